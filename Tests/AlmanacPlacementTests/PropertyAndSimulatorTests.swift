import AlmanacKeyspace
import Testing
@testable import AlmanacPlacement
import AlmanacPlacementSimulation

@Suite struct PropertyTests {
    /// Random maps, random reconfigurations: one voter per zone and the leader among voters always hold.
    @Test func onePerZoneAlwaysHolds() throws {
        let topo = try Fixture.topology(nodesPerZone: 2)
        var rng = Fixture.Rng(state: 42)
        for _ in 0..<60 {
            let k = try SegmentKeying(segmentCount: Int.random(in: 2...12, using: &rng))
            let zones = Array((0..<6).shuffled(using: &rng).prefix(3))
            let voters = zones.map { ReplicaPlacement(zone: $0, node: topo.nodesByZone[$0].randomElement(using: &rng)!) }
            var m = try ShardLayout(keying: k, segmentsPerShard: Int.random(in: 1...3, using: &rng), voters: voters, leader: voters[0].node, topology: topo)
            for _ in 0..<40 {
                let s = m.shards.randomElement(using: &rng)!
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: try? m.transferLeadership(shard: s.id, to: Int.random(in: 0..<12, using: &rng))
                case 1:
                    let z = Int.random(in: 0..<6, using: &rng)
                    try? m.replaceVoter(shard: s.id, removeZone: s.voters.randomElement(using: &rng)!.zone,
                                        add: ReplicaPlacement(zone: z, node: topo.nodesByZone[z].randomElement(using: &rng)!), topology: topo)
                case 2: try? m.split(at: SegmentID(Int.random(in: 0..<k.segmentCount, using: &rng)))
                default: try? m.merge(at: SegmentID(Int.random(in: 0..<k.segmentCount, using: &rng)))
                }
                #expect(m.violations(topology: topo, replicationFactor: 3).isEmpty)
            }
        }
    }

    /// Random forecasts for many shards: the moves a planner pass admits never exceed the in-flight budget.
    @Test func noPlanExceedsTheInFlightBudget() throws {
        let topo = try Fixture.topology()
        var rng = Fixture.Rng(state: 7)
        for trial in 0..<25 {
            var cfg = MigrationPlannerConfig()
            cfg.maxMovesInFlight = Int.random(in: 0...6, using: &rng)
            let planner = try MigrationPlanner(config: cfg, topology: topo, latency: LatencyModel(serviceTimeMs: 0.5), replicationFactor: 3)
            let k = try SegmentKeying(segmentCount: 16)
            let m = try ShardLayout(keying: k, segmentsPerShard: 1,
                                 voters: [ReplicaPlacement(zone: 0, node: 0), ReplicaPlacement(zone: 1, node: 1), ReplicaPlacement(zone: 2, node: 2)],
                                 leader: 0, topology: topo)
            let outlooks = m.shards.map { s -> ShardOutlook in
                let flip = Int.random(in: 0...6, using: &rng)
                let to = Int.random(in: 0..<6, using: &rng)
                let rates = (0..<24).map { t -> [Double] in
                    (0..<6).map { z in (t < flip ? (z == 0 ? 300.0 : 2) : (z == to ? 300 : 2)) * Double.random(in: 0.8...1.2, using: &rng) }
                }
                return ShardOutlook(shard: s, forecast: Fixture.forecast(rates, width: Double.random(in: 0...0.5, using: &rng)))
            }
            let load = planner.nodeLoads(outlooks: outlooks, horizon: 24)
            var inFlight = Int.random(in: 0...cfg.maxMovesInFlight, using: &rng)
            let start = inFlight
            var admitted = 0
            for o in outlooks {
                let p = planner.planMigration(outlook: o, nodeLoad: load, leadTimeSeconds: 1800, now: 0, history: .init(),
                                              movesInFlight: inFlight, pendingMoves: [], bytes: 1e9)
                if case .prepareMoves(let mv) = p.decision { inFlight += mv.count; admitted += mv.count }
                #expect(inFlight <= cfg.maxMovesInFlight, "trial \(trial)")
            }
            #expect(start + admitted <= cfg.maxMovesInFlight)
        }
    }
}

@Suite(.serialized) struct SimulatorTests {
    /// A shortened copy of a shipped scenario (27 h warm-up: one day of history for the forecaster, then time to
    /// converge from the cold start; then `measured` hours; 60 s steps for speed). The shipped scenarios use the
    /// median combination, which needs two days of history (Holt-Winters fits its season on two); to keep debug
    /// tests fast these runs use AlmanacPredict's daily seasonal-naive forecaster, which needs one.
    func short(_ name: String, measured: Double) throws -> PlacementSimulator {
        var (sc, read) = try Fixture.scenario(name)
        sc.forecaster = "seasonal-naive"
        sc.warmupHours = 27
        sc.durationHours = 27 + measured
        sc.stepSeconds = 60
        return try PlacementSimulator(scenario: sc, readFile: read)
    }

    @Test func sameSeedSameResults() throws {
        var (sc, read) = try Fixture.scenario("follow-the-sun.json")
        sc.durationHours = 6; sc.warmupHours = 1; sc.stepSeconds = 120
        let a = try PlacementSimulator(scenario: sc, seed: 3, readFile: read).run(.reactive)
        let b = try PlacementSimulator(scenario: sc, seed: 3, readFile: read).run(.reactive)
        #expect(a == b)
        let c = try PlacementSimulator(scenario: sc, seed: 4, readFile: read).run(.reactive)
        #expect(c.meanMs != a.meanMs)
    }

    @Test func followTheSunMeetsTheTargets() throws {
        let sim = try short("follow-the-sun.json", measured: 8)
        // Against the lease-only reactive policy (the reactive policy with replica moves is compared in the docs).
        let st = try sim.run(.static), re = try sim.run(.reactiveLeases), pr = try sim.run(.predictive)
        #expect(pr.p99Ms <= 0.6 * re.p99Ms, "predictive \(pr.p99Ms) vs reactive \(re.p99Ms)")
        #expect(pr.p99Ms <= 0.4 * st.p99Ms, "predictive \(pr.p99Ms) vs static \(st.p99Ms)")
        #expect(pr.maxReversalsPerShardPerWindow <= 1)
        #expect(pr.replicaMoves > 0)
        #expect(pr.mapViolations.isEmpty)
        #expect(!pr.auditEntries.isEmpty)
        #expect(pr.auditEntries.allSatisfy { $0.realizedGainOpMs != nil && $0.predictedGainOpMs.isFinite })
    }

    @Test func shadowModeActsLikeReactiveAndOnlyAudits() throws {
        let sim = try short("follow-the-sun-spread.json", measured: 6)
        let re = try sim.run(.reactiveLeases), sh = try sim.run(.shadow)
        #expect(sh.p99Ms == re.p99Ms && sh.leadershipTransfers == re.leadershipTransfers && sh.replicaMoves == 0)
        #expect(re.leadershipTransfers > 0)
        #expect(!sh.auditEntries.isEmpty)
        #expect(sh.auditEntries.allSatisfy { $0.shadow && $0.outcome == .shadow && $0.realizedGainOpMs != nil })
    }

    @Test func steadyLoadMakesNoMoves() throws {
        let sim = try short("steady-uniform.json", measured: 4)
        let pr = try sim.run(.predictive)
        #expect(pr.moves == 0)
        #expect(pr.auditEntries.allSatisfy { $0.realizedGainOpMs != nil })
    }

    @Test func steadyRegionalLoadMakesNoMovesForAnyPolicy() throws {
        let sim = try short("steady-regional.json", measured: 3)
        let re = try sim.run(.reactive), pr = try sim.run(.predictive)
        #expect(re.moves == 0, "reactive moved \(re.moves)")
        #expect(pr.moves == 0, "predictive moved \(pr.moves)")
        #expect(re.regions.map(\.region) == ["us", "eu", "ap"])
    }

    @Test func flashCrowdIsNoWorseThanReactive() throws {
        var (sc, read) = try Fixture.scenario("flash-crowd.json")
        sc.warmupHours = 26; sc.durationHours = 30; sc.stepSeconds = 60; sc.forecaster = "seasonal-naive"
        sc.loads[1].startHourMin = 27; sc.loads[1].startHourMax = 28
        let sim = try PlacementSimulator(scenario: sc, readFile: read)
        let re = try sim.run(.reactive), pr = try sim.run(.predictive), st = try sim.run(.static)
        #expect(st.overloadMinutes > re.overloadMinutes)
        #expect(pr.p99Ms <= re.p99Ms * 1.05, "predictive \(pr.p99Ms) vs reactive \(re.p99Ms)")
        #expect(pr.overloadMinutes <= re.overloadMinutes + 1)
        #expect(pr.replicaMoves == 0, "a burst alone must not move data")
        #expect(pr.fallbackShare > 0)
    }

    @Test func badScenarioGivesATypedError() throws {
        var (sc, read) = try Fixture.scenario("steady-uniform.json")
        sc.loads[0].kind = "nonsense"
        #expect(throws: PlacementError.self) { try PlacementSimulator(scenario: sc, readFile: read) }
        #expect(throws: PlacementError.self) { try Scenario.decode(Data("{}".utf8)) }
    }
}

import Foundation

/// The NAB-driven scenario: the series are read, bucketed hourly and scaled to the stated mean.
@Suite struct SeriesLoadTests {
    static let nabPresent = FileManager.default.fileExists(
        atPath: Fixture.packageRoot.appendingPathComponent("../shared/data/forecast/nab/Twitter_volume_AAPL.csv").standardized.path)

    @Test(.enabled(if: nabPresent, "../shared/data/forecast/nab is absent: skipping the NAB-driven load test"))
    func nabSeriesScaledToTheirMean() throws {
        let (sc, read) = try Fixture.scenario("diurnal-hot-set.json")
        let sim = try PlacementSimulator(scenario: sc, readFile: read)
        // Average over the series' whole length (about 55 days of hours) of segment 0 = its stated mean.
        let hours = 24 * 50
        var sum = 0.0
        for h in 0..<hours {
            let r = sim.load.rates(at: Double(h) * 3600)
            sum += r.reads[0].reduce(0, +) + r.writes[0].reduce(0, +)
        }
        let mean = sum / Double(hours)
        #expect(mean > 0.8 * 800 && mean < 1.2 * 800, "mean \(mean)")
        let r = sim.load.rates(at: 3600)
        let tot = r.reads[0].reduce(0, +) + r.writes[0].reduce(0, +)
        #expect(abs((r.writes[0].reduce(0, +)) / tot - 0.2) < 1e-9)
        #expect(abs((r.reads[0][0] + r.writes[0][0]) / tot - 0.5) < 1e-9)
    }
}
