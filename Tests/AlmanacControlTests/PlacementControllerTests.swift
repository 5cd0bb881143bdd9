import AlmanacControl
import AlmanacKeyspace
import Testing

/// The controller's pure core on live maps: the library's policies, fed bucket by bucket, and their
/// actions in the live cluster's shard and node ids.
@Suite("PlacementController: the library's policies on the live map")
struct PlacementControllerTests {
    /// Six nodes in three zones (nodes 1-3 in zone-a..c, 4-6 again), as `almanac dev --nodes 6`.
    static let sixNodes: [NodeID: ZoneName] = [1: "zone-a", 2: "zone-b", 3: "zone-c", 4: "zone-a", 5: "zone-b", 6: "zone-c"]

    /// `shards` shards over 64 segments; shard s on nodes 1-3 (even) or 4-6 (odd), led in zone-a.
    static func map(shards: Int = 2, segments: Int = 64, members: [NodeID: ZoneName] = sixNodes, voters: Int = 3) throws -> ShardMap {
        let keying = try SegmentKeying(segmentCount: segments)
        return try ShardMap.initial(keying: keying, shardCount: shards) { shard in
            let base: NodeID = shard % 2 == 0 ? 1 : 4
            return (0..<NodeID(voters)).map { ReplicaLocation(node: base + $0, zone: members[base + $0] ?? "") }
        }.withLeaders { record in record.replicas.first?.node ?? 0 }
    }

    static func settings(_ policy: ControllerPolicyKind, season: Int = 12) -> ControllerSettings {
        var settings = ControllerSettings()
        settings.policy = policy
        settings.bucketSeconds = 10
        settings.seasonBuckets = season
        settings.crossZoneRttMs = 40
        settings.initialMoveSeconds = 5
        return settings
    }

    /// `rate` requests per bucket on every segment of `segments`, all from `zone`.
    static func bucket(_ index: Int64, zone: ZoneName, rate: Double = 600, segments: Range<Int> = 0..<64) -> BucketObservation {
        var requests: [SegmentID: [ZoneName: Double]] = [:]
        for segment in segments { requests[SegmentID(segment)] = [zone: rate] }
        return BucketObservation(bucket: index, requests: requests, writeFraction: [:])
    }

    @Test func reactiveMovesLeadershipToTheZoneTheLoadComesFromInLiveIDs() throws {
        let map = try Self.map()
        var controller = try PlacementController(settings: Self.settings(.reactive), members: Self.sixNodes, segmentCount: 64)
        var actions: [ControllerAction] = []
        var decisions: [ControllerDecision] = []
        for index in 0..<40 where actions.isEmpty {
            let result = controller.observe(Self.bucket(1000 + Int64(index), zone: "zone-c"), map: map)
            actions += result.actions
            decisions += result.decisions
        }
        // Shard 0 lives on nodes 1-3 (zone-c: node 3), shard 1 on nodes 4-6 (zone-c: node 6).
        #expect(Set(actions) == [.transferLeadership(shard: 0, to: 3), .transferLeadership(shard: 1, to: 6)])
        #expect(decisions.map(\.action) == ["transfer leadership", "transfer leadership"])
        #expect(Set(decisions.map(\.toLeader)) == [3, 6])
        #expect(Set(decisions.map(\.fromLeader)) == [1, 4])
    }

    @Test func steadyLoadWhereTheLeadersAreMovesNothing() throws {
        let map = try Self.map()
        for policy in ControllerPolicyKind.allCases {
            var controller = try PlacementController(settings: Self.settings(policy), members: Self.sixNodes, segmentCount: 64)
            var actions: [ControllerAction] = []
            for index in 0..<60 { actions += controller.observe(Self.bucket(2000 + Int64(index), zone: "zone-a"), map: map).actions }
            #expect(actions.isEmpty, "\(policy) moved on a steady workload: \(actions)")
        }
    }

    @Test func aBucketAlreadySeenIsNotFedTwice() throws {
        let map = try Self.map()
        var controller = try PlacementController(settings: Self.settings(.reactive), members: Self.sixNodes, segmentCount: 64)
        var first: [ControllerAction] = []
        var index: Int64 = 3000
        while first.isEmpty && index < 3040 {
            first = controller.observe(Self.bucket(index, zone: "zone-b"), map: map).actions
            index += 1
        }
        #expect(!first.isEmpty)
        #expect(controller.observe(Self.bucket(index - 1, zone: "zone-b"), map: map).actions.isEmpty)
        #expect(controller.observe(Self.bucket(index - 5, zone: "zone-b"), map: map).actions.isEmpty)
    }

    /// Four zones, three replicas: load from the zone without a replica makes the reactive policy
    /// (replica moves, as CockroachDB's and TiKV's rebalancers) prepare a move onto zone-d's node;
    /// reported prepared, it is committed.
    @Test func replicaMovesArePreparedAndCommittedInTwoPhasesWithLiveNodeIDs() throws {
        let members: [NodeID: ZoneName] = [1: "zone-a", 2: "zone-b", 3: "zone-c", 4: "zone-d"]
        let keying = try SegmentKeying(segmentCount: 64)
        let map = try ShardMap.initial(keying: keying, shardCount: 1) { _ in
            [ReplicaLocation(node: 1, zone: "zone-a"), ReplicaLocation(node: 2, zone: "zone-b"), ReplicaLocation(node: 3, zone: "zone-c")]
        }.withLeaders { _ in 1 }
        var controller = try PlacementController(settings: Self.settings(.reactive), members: members, segmentCount: 64)
        var prepared: (move: Int, shard: ShardID, source: NodeID, target: NodeID)?
        var index: Int64 = 5000
        while prepared == nil && index < 5200 {
            for action in controller.observe(Self.bucket(index, zone: "zone-d"), map: map).actions {
                if case .prepareMove(let move, let shard, let source, let target) = action { prepared = (move, shard, source, target) }
            }
            index += 1
        }
        let move = try #require(prepared)
        #expect(move.shard == 0 && move.target == 4 && [1, 2, 3].contains(move.source))
        controller.movePrepared(move.move, at: Double(index) * 10)
        var committed: ControllerAction?
        for _ in 0..<10 where committed == nil {
            committed = controller.observe(Self.bucket(index, zone: "zone-d"), map: map).actions.first {
                if case .commitMove = $0 { return true } else { return false }
            }
            index += 1
        }
        #expect(committed == .commitMove(move: move.move, newLeader: 4))
    }

    /// Follow the sun: every season the load sits in zone-a for the first half and in zone-c for
    /// the second. After a few seasons of history the predictive policy moves the leadership to
    /// zone-c *before* the load arrives there; the reactive one only after.
    @Test func predictiveMovesAheadOfARecurringShiftReactiveAfterIt() throws {
        let season = 12
        // Offsets in buckets of the decision from the shift, and of the time the shell is to carry it
        // out (seconds from the shift; nil: at once).
        func firstTransferToZoneC(_ policy: ControllerPolicyKind) throws -> (buckets: [Int], seconds: [Double?]) {
            var map = try Self.map(shards: 1)
            var controller = try PlacementController(settings: Self.settings(policy, season: season), members: Self.sixNodes, segmentCount: 64)
            var offsets: [Int] = []
            var due: [Double?] = []
            for index in 0..<(season * 8) {
                let phase = index % season
                let zone: ZoneName = phase < season / 2 ? "zone-a" : "zone-c"
                for action in controller.observe(Self.bucket(Int64(index), zone: zone, rate: 3000), map: map).actions {
                    guard case .transferLeadership(let shard, let to) = action else { continue }
                    map = try map.withLeaders { $0.id == shard ? to : $0.leaderHint }
                    if to == 3 && index >= season * 4 {
                        offsets.append(phase - season / 2)
                        let shift = Double(index - phase + season / 2) * 10
                        due.append(controller.executionTime(of: action).map { $0 - shift })
                    }
                }
            }
            return (offsets, due)
        }
        let predictive = try firstTransferToZoneC(.predictive)
        let reactive = try firstTransferToZoneC(.reactive)
        // The observation of bucket `phase` is decided at its end. Predictive decides two buckets
        // before the load moves (a bucket ahead, as the shell sees complete buckets only) and is due
        // 3 s before the shift; reactive moves after the shift, at once.
        #expect(!predictive.buckets.isEmpty && predictive.buckets.allSatisfy { $0 < 0 }, "predictive moves to zone-c at offsets \(predictive.buckets)")
        #expect(predictive.seconds.allSatisfy { $0 == -3 }, "predictive transfers due at \(predictive.seconds) s from the shift")
        #expect(!reactive.buckets.isEmpty && reactive.buckets.allSatisfy { $0 >= 0 }, "reactive moves to zone-c at offsets \(reactive.buckets)")
        #expect(reactive.seconds.allSatisfy { $0 == nil }, "reactive transfers are carried out at once: \(reactive.seconds)")
    }

    /// The audit's realized gain: once a predictive transfer's window has passed, the controller
    /// reports the gain the library's estimator measured on the observed requests, under the key
    /// the decision carried. Ahead of a real shift it is positive (the load did come from zone-c);
    /// a transfer toward a zone the load then never comes from realizes a loss.
    @Test func realizedGainsComeBackForTheDecisionsTheyBelongTo() throws {
        let season = 12
        func run(shiftHappens: Bool) throws -> (decisions: [ControllerDecision], gains: [RealizedGain]) {
            var map = try Self.map(shards: 1)
            var controller = try PlacementController(settings: Self.settings(.predictive, season: season), members: Self.sixNodes,
                                                     segmentCount: 64, run: 77)
            var decisions: [ControllerDecision] = []
            var gains: [RealizedGain] = []
            for index in 0..<(season * 8) {
                let phase = index % season
                // The last seasons: the load stays in zone-a when the shift does not happen.
                let shifted = phase >= season / 2 && (shiftHappens || index < season * 6)
                let result = controller.observe(Self.bucket(Int64(index), zone: shifted ? "zone-c" : "zone-a", rate: 3000), map: map)
                for action in result.actions {
                    guard case .transferLeadership(let shard, let to) = action else { continue }
                    map = try map.withLeaders { $0.id == shard ? to : $0.leaderHint }
                }
                decisions += result.decisions
                gains += controller.takeRealizedGains()
            }
            return (decisions, gains)
        }
        let (decisions, gains) = try run(shiftHappens: true)
        let audited = decisions.filter { $0.auditEntry != nil }
        #expect(!audited.isEmpty && audited.allSatisfy { $0.plannerRun == 77 })
        #expect(Set(gains.map(\.auditEntry)).isSubset(of: Set(audited.compactMap(\.auditEntry))))
        #expect(gains.count >= audited.count - 2, "every decision but the newest is settled: \(gains.count) of \(audited.count)")
        #expect(Set(gains.map(\.auditEntry)).count == gains.count, "each gain is reported once")
        let toZoneC = Set(audited.filter { $0.toLeader == 3 }.compactMap(\.auditEntry))
        let realizedToZoneC = gains.filter { toZoneC.contains($0.auditEntry) }
        #expect(!realizedToZoneC.isEmpty && realizedToZoneC.allSatisfy { $0.gainOpMs > 0 }, "\(realizedToZoneC)")

        // The same history, then the shift stops: the transfers made ahead of a shift that never came lose.
        let (missed, missedGains) = try run(shiftHappens: false)
        let late = Set(missed.filter { $0.toLeader == 3 && $0.time > Double(season * 6) * 10 }.compactMap(\.auditEntry))
        let lateGains = missedGains.filter { late.contains($0.auditEntry) }
        #expect(!lateGains.isEmpty && lateGains.allSatisfy { $0.gainOpMs < 0 }, "\(lateGains)")
    }
}

extension ShardMap {
    /// The same map with each shard's leader hint set by `leader`.
    func withLeaders(_ leader: (ShardRecord) -> NodeID) throws -> ShardMap {
        let records = shards.values.sorted { $0.id < $1.id }.map { record in
            var record = record
            record.leaderHint = leader(record)
            return record
        }
        return try ShardMap(keying: keying, epoch: epoch, owners: (0..<keying.segmentCount).map { shard(ofSegment: SegmentID($0)) ?? 0 }, shards: records)
    }
}
