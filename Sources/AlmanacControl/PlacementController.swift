import AlmanacKeyspace
import struct AlmanacPlacement.AccessMonitorConfig
import struct AlmanacPlacement.LatencyModel
import struct AlmanacPlacement.MigrationPlanner
import struct AlmanacPlacement.NodeSpec
import enum AlmanacPlacement.PlacementAction
import struct AlmanacPlacement.PlacementView
import struct AlmanacPlacement.PredictiveConfig
import struct AlmanacPlacement.PredictivePolicy
import struct AlmanacPlacement.ReactiveConfig
import struct AlmanacPlacement.ReactivePolicy
import struct AlmanacPlacement.ReactiveReplicaConfig
import struct AlmanacPlacement.ReplicaMove
import struct AlmanacPlacement.ReplicaPlacement
import struct AlmanacPlacement.ReshardingConfig
import struct AlmanacPlacement.ShardLayout
import struct AlmanacPlacement.StaticPolicy
import struct AlmanacPlacement.Topology
import struct AlmanacPredict.AutoregressiveForecaster
import struct AlmanacPredict.CombinationForecaster
import struct AlmanacPredict.HoltWintersForecaster
import struct AlmanacPredict.RobustForecaster
import struct AlmanacPredict.SeasonalNaiveForecaster

/// Which placement policy the controller runs (the library's, unchanged).
public enum ControllerPolicyKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Never moves anything (the baseline).
    case `static`
    /// After load has shifted: leases and replicas toward the measured load (CockroachDB's store
    /// rebalancer, TiKV's hot-region scheduler).
    case reactive
    /// PME: forecast-led leadership and replica moves ahead of the load, LSMM splits and merges,
    /// shadow mode and the automatic fallback to the reactive policy.
    case predictive
}

/// The controller's settings. Time settings are in the cluster's seconds; the planner's daily
/// constants (cooldowns, lead margin, evaluation window) are scaled to a season of
/// `seasonBuckets` buckets, so a compressed "day" of minutes behaves like a day.
public struct ControllerSettings: Sendable, Hashable, Codable {
    public var policy: ControllerPolicyKind = .predictive
    /// The nodes' access-monitor bucket (every observation is one complete bucket).
    public var bucketSeconds: Double = 60
    /// Buckets in one season (one "day").
    public var seasonBuckets: Int = 24
    public var inZoneRttMs: Double = 0.2
    public var crossZoneRttMs: Double = 2
    /// Round trips of particular zone pairs (``rttKey(_:_:)``), over `crossZoneRttMs`.
    public var zoneRttMs: [String: Double] = [:]
    public var serviceTimeMs: Double = 0.5
    /// Move time assumed before one has been measured.
    public var initialMoveSeconds: Double = 10
    /// LSMM: a segment above this rate for three buckets gets a shard of its own (nil: no splits or merges).
    public var splitThresholdOpsPerSec: Double? = nil

    public init() {}

    /// The key of a zone pair in `zoneRttMs` (order does not matter).
    public static func rttKey(_ a: ZoneName, _ b: ZoneName) -> String { a < b ? "\(a)|\(b)" : "\(b)|\(a)" }

    /// The round trip the planner assumes between two zones.
    public func rttMs(_ a: ZoneName, _ b: ZoneName) -> Double {
        a == b ? inZoneRttMs : zoneRttMs[Self.rttKey(a, b)] ?? crossZoneRttMs
    }

    /// Seconds of the cluster per second of a real day.
    public var timeScale: Double { bucketSeconds * Double(seasonBuckets) / 86_400 }
}

/// One complete bucket as the nodes measured it.
public struct BucketObservation: Sendable {
    /// The bucket's index (its start is `bucket * bucketSeconds`).
    public var bucket: Int64
    /// Requests per segment per client zone in the bucket.
    public var requests: [SegmentID: [ZoneName: Double]]
    /// Share of each segment's requests that were writes (over the nodes' window).
    public var writeFraction: [SegmentID: Double]

    public init(bucket: Int64, requests: [SegmentID: [ZoneName: Double]], writeFraction: [SegmentID: Double]) {
        self.bucket = bucket
        self.requests = requests
        self.writeFraction = writeFraction
    }
}

/// `predict_access_pattern(key)`: the forecast requests of one segment, per bucket ahead and per zone.
public struct AccessPatternForecast: Sendable, Hashable, Codable {
    public var segment: SegmentID
    public var zones: [ZoneName]
    public var bucketSeconds: Double
    /// Seconds since 1970 at the start of the first forecast bucket.
    public var startTime: Double
    /// `requests[step][zone]`: the point forecast; `lower` and `upper` bound its interval.
    public var requests: [[Double]]
    public var lower: [[Double]]
    public var upper: [[Double]]
    public var writeFraction: Double
}

/// What the controller asks the cluster to do, in the live cluster's terms.
public enum ControllerAction: Sendable, Hashable {
    case transferLeadership(shard: ShardID, to: NodeID)
    /// Prepare phase of a replica move: `target` joins as a learner and catches up.
    case prepareMove(move: Int, shard: ShardID, source: NodeID, target: NodeID)
    /// Commit phase: swap the learner in for the source, then the leadership to `newLeader`.
    case commitMove(move: Int, newLeader: NodeID?)
    case abortMove(move: Int)
    /// Split: the segments of `shard` from `segment` on go to an empty shard.
    case split(shard: ShardID, at: SegmentID)
    /// Merge: every segment of `otherShard` goes into `shard`.
    case merge(shard: ShardID, otherShard: ShardID)
}

/// The placement controller's pure core: the library's policy run on the live cluster's map and
/// measured load, bucket by bucket; its actions translated to the live cluster's shards and nodes.
///
/// Identifiers: the library numbers zones, nodes and shards by position; here zones are the
/// members' zone names sorted, nodes the member ids sorted, shards the live shards sorted by first
/// segment (every shard owns one contiguous run, which splits and merges of neighbours keep).
public struct PlacementController: Sendable {
    public let settings: ControllerSettings
    public let members: [NodeID: ZoneName]
    public let zones: [ZoneName]
    public let nodes: [NodeID]
    let topology: Topology
    let keying: SegmentKeying
    private var policy: Policy
    private var lastBucket: Int64?
    /// Moves in flight, in the library's terms, with their live source and target.
    private var moves: [Int: (move: ReplicaMove, liveShard: ShardID, source: NodeID, target: NodeID)] = [:]
    private var failed: [ReplicaMove] = []
    private var completedSeconds: [Double] = []
    private var auditedEntries = 0
    /// When the shell should carry out each action of the last bucket observed (absent: at once).
    private var executionTimes: [ControllerAction: Double] = [:]
    /// Library audit entries attached to a decision whose realized gain is not reported yet.
    private var awaitingRealized: Set<Int> = []
    /// This instance's number, chosen by the shell: with a library audit entry id, the key a
    /// decision's realized gain is filed under (a new instance numbers its entries from 0 again).
    public let run: UInt64

    enum Policy: Sendable {
        case none(StaticPolicy)
        case reactive(ReactivePolicy)
        case predictive(PredictivePolicy)
    }

    /// `members`: every node and its zone (the topology the library plans over).
    public init(settings: ControllerSettings, members: [NodeID: ZoneName], segmentCount: Int, run: UInt64 = 0) throws(ControllerRecordError) {
        self.settings = settings
        self.run = run
        self.members = members
        let zones = Set(members.values).sorted()
        let nodes = members.keys.sorted()
        self.zones = zones
        self.nodes = nodes
        do {
            let zoneIndex = Dictionary(uniqueKeysWithValues: zones.enumerated().map { ($0.element, $0.offset) })
            let topology = try Topology(
                zoneNames: zones,
                rttMs: zones.map { a in zones.map { b in settings.rttMs(a, b) } },
                nodes: nodes.map { NodeSpec(name: "node-\($0)", zone: zoneIndex[members[$0] ?? ""] ?? 0, capacityOpsPerSec: 1e9) })
            self.topology = topology
            keying = try SegmentKeying(segmentCount: segmentCount)
            let latency = LatencyModel(serviceTimeMs: settings.serviceTimeMs)
            let scale = settings.timeScale
            switch settings.policy {
            case .static:
                policy = .none(StaticPolicy())
            case .reactive:
                var config = ReactiveConfig(splitThresholdOpsPerSec: settings.splitThresholdOpsPerSec)
                config.windowSeconds = max(settings.bucketSeconds, config.windowSeconds * scale)
                var replicas = ReactiveReplicaConfig()
                replicas.windowSeconds = max(settings.bucketSeconds, replicas.windowSeconds * scale)
                replicas.cooldownSeconds *= scale
                replicas.maxMovesInFlight = 1
                config.replicas = replicas
                policy = .reactive(ReactivePolicy(config: config, latency: latency))
            case .predictive:
                let monitor = try AccessMonitorConfig(bucketSeconds: settings.bucketSeconds, windowBuckets: settings.seasonBuckets * 2 + 8,
                                                      zoneCount: zones.count)
                let resharding = try settings.splitThresholdOpsPerSec.map { try ReshardingConfig(splitThresholdOpsPerSec: $0) }
                var config = PredictiveConfig(monitor: monitor, minHistoryBuckets: settings.seasonBuckets + 1,
                                              initialMoveSeconds: settings.initialMoveSeconds, resharding: resharding)
                config.planner.leadMarginSeconds *= scale
                config.planner.evaluationWindowSeconds *= scale
                config.planner.leaderCooldownSeconds *= scale
                config.planner.replicaCooldownSeconds *= scale
                config.planner.preparedTimeoutSeconds *= scale
                config.planner.maxMovesInFlight = 1
                // The shell sees complete buckets only: transfers are decided a bucket ahead and
                // timed to land just before the bucket they were decided for (executionTime(of:)).
                config.decisionLeadBuckets = 1
                config.reactive.windowSeconds = max(settings.bucketSeconds, config.reactive.windowSeconds * scale)
                let planner = try MigrationPlanner(config: config.planner, topology: topology, latency: latency, replicationFactor: zones.count)
                let season = settings.seasonBuckets
                let combination = CombinationForecaster(members: [
                    SeasonalNaiveForecaster(period: season),
                    HoltWintersForecaster(period: season, fitWindow: 2 * season),
                    AutoregressiveForecaster(order: 3, seasonalLags: [season], fitWindow: 2 * season),
                ], seasonPeriod: season, spikePersistence: 2)
                let forecaster = RobustForecaster(anchor: SeasonalNaiveForecaster(period: season), model: combination, period: season)
                policy = .predictive(PredictivePolicy(config: config, planner: planner, forecaster: forecaster, keying: keying))
            }
        } catch {
            throw ControllerRecordError(description: "the controller cannot plan over this cluster: \(error)")
        }
    }

    /// The policy's name as the library gives it ("predictive", "reactive", "static").
    public var policyName: String {
        switch policy {
        case .none(let p): p.name
        case .reactive(let p): p.name
        case .predictive(let p): p.name
        }
    }

    /// Why the policy acts as it does now: its name, and for the predictive policy whether it is in
    /// its reactive fallback and the last bucket's forecast error.
    public var policyReason: String {
        guard case .predictive(let p) = policy else { return policyName }
        let error = p.errorMonitor.lastBucketError.map { String(Int(($0 * 100).rounded())) + "%" } ?? "none yet"
        if p.errorMonitor.fallingBack {
            return "reactive fallback: forecast error (WAPE) of the last bucket \(error), bound \(Int((p.errorMonitor.bound * 100).rounded()))%"
        }
        return "forecast: error of the last bucket \(error)"
    }

    /// The predictive policy's forecast error (WAPE) over the last complete bucket (nil before the
    /// first) and its bound; nil for the other policies.
    public var forecastError: (lastBucket: Double?, bound: Double)? {
        guard case .predictive(let p) = policy else { return nil }
        return (p.errorMonitor.lastBucketError, p.errorMonitor.bound)
    }

    /// True while the predictive policy has fallen back to the reactive one (forecast error above its bound).
    public var fallbackSteps: Int { if case .predictive(let p) = policy { p.fallbackSteps } else { 0 } }

    // MARK: - Moves reported by the shell

    /// The prepare phase of `move` finished: the learner has caught up.
    public mutating func movePrepared(_ move: Int, at time: Double) {
        guard var entry = moves[move] else { return }
        entry.move.state = .prepared(readyAt: time)
        moves[move] = entry
    }

    /// The move was committed (`seconds`: prepare plus commit).
    public mutating func moveCommitted(_ move: Int, seconds: Double) {
        guard moves.removeValue(forKey: move) != nil else { return }
        completedSeconds.append(seconds)
    }

    /// The move failed or was rolled back.
    public mutating func moveFailed(_ move: Int) {
        guard let entry = moves.removeValue(forKey: move) else { return }
        failed.append(entry.move)
    }

    /// The policy aborted the move and it was rolled back.
    public mutating func moveAborted(_ move: Int) {
        moves[move] = nil
    }

    public var movesInFlight: [Int] { moves.keys.sorted() }

    // MARK: - One bucket

    /// Feeds one complete bucket on `map` and returns the policy's actions in live terms (empty
    /// for a bucket already seen) with the audit records of the decisions made on it.
    public mutating func observe(_ observation: BucketObservation, map: ShardMap)
        -> (actions: [ControllerAction], decisions: [ControllerDecision]) {
        if let lastBucket, observation.bucket <= lastBucket { return ([], []) }
        lastBucket = observation.bucket
        executionTimes = [:]
        guard let model = try? placementMap(map) else { return ([], []) }
        let time = Double(observation.bucket + 1) * settings.bucketSeconds
        var reads = Array(repeating: Array(repeating: 0.0, count: zones.count), count: keying.segmentCount)
        var writes = reads
        var stepOps: [ShardID: [Double]] = [:]
        for (segment, byZone) in observation.requests where Int(segment) < keying.segmentCount {
            let w = min(1, max(0, observation.writeFraction[segment] ?? 0))
            for (zone, count) in byZone {
                guard let z = zones.firstIndex(of: zone) else { continue }
                reads[Int(segment)][z] += count * (1 - w)
                writes[Int(segment)][z] += count * w
                if let shard = model.map.shardIndex(containing: segment) {
                    stepOps[model.map.shards[shard].id, default: Array(repeating: 0, count: zones.count)][z] += count
                }
            }
        }
        let view = PlacementView(
            time: time, stepSeconds: settings.bucketSeconds, map: model.map, topology: topology,
            moves: moves.values.map(\.move), failedMoves: failed, completedMoveSeconds: completedSeconds, stepOps: stepOps,
            segmentReads: reads, segmentWrites: writes, nodeUtilization: Array(repeating: 0, count: nodes.count), bytesPerSegment: 64 * 1024)
        failed = []
        completedSeconds = []
        let placementActions: [PlacementAction]
        switch policy {
        case .none(var p): placementActions = p.decide(view); policy = .none(p)
        case .reactive(var p): placementActions = p.decide(view); policy = .reactive(p)
        case .predictive(var p): placementActions = p.decide(view); policy = .predictive(p)
        }
        var actions: [ControllerAction] = []
        var decisions: [ControllerDecision] = []
        // Predictive transfers and commits were decided for the bucket after the one in progress:
        // they are due `actionLeadSeconds` before it starts. The reactive fallback acts at once.
        var timed = false
        if case .predictive(let p) = policy, !p.errorMonitor.fallingBack { timed = true }
        for action in placementActions {
            guard let live = translate(action, model: model, time: time) else { continue }
            actions.append(live)
            decisions.append(decision(for: live, model: model, time: time))
            switch live {
            case .transferLeadership, .commitMove:
                if timed { executionTimes[live] = time + settings.bucketSeconds - actionLeadSeconds }
            default:
                break
            }
        }
        attachForecasts(&decisions, model: model)
        return (actions, decisions)
    }

    /// The library's audit (predictive) for the decisions just made: forecast, gain, cost, confidence.
    private mutating func attachForecasts(_ decisions: inout [ControllerDecision], model: PlacementModel) {
        guard case .predictive(let p) = policy else { return }
        let entries = p.audit.entries
        defer { auditedEntries = entries.count }
        for entry in entries.dropFirst(auditedEntries) {
            guard let live = model.liveShard[entry.shard],
                  let index = decisions.firstIndex(where: { $0.shard == live && $0.predictedGainOpMs == nil }) else { continue }
            decisions[index].forecastRequests = entry.forecastOps
            decisions[index].predictedGainOpMs = entry.predictedGainOpMs
            decisions[index].costOpMs = entry.costOpMs
            decisions[index].confidence = entry.confidence
            decisions[index].auditEntry = entry.id
            decisions[index].plannerRun = run
            awaitingRealized.insert(entry.id)
            decisions[index].reason = "forecast: \(Int(entry.forecastOps.rounded())) requests over the window, "
                + "predicted gain \(Int(entry.predictedGainOpMs.rounded())) op-ms for a cost of \(Int(entry.costOpMs.rounded())) op-ms"
        }
    }

    /// Realized gains the library's audit settled since the last call, for decisions this
    /// instance returned (predictive only: the other policies predict no gain to compare with).
    public mutating func takeRealizedGains() -> [RealizedGain] {
        guard case .predictive(let p) = policy, !awaitingRealized.isEmpty else { return [] }
        var settled: [RealizedGain] = []
        for id in awaitingRealized.sorted() where p.audit.entries.indices.contains(id) {
            let entry = p.audit.entries[id]
            guard let gain = entry.realizedGainOpMs else { continue }
            settled.append(RealizedGain(plannerRun: run, auditEntry: id, gainOpMs: gain, partial: entry.realizedPartial))
            awaitingRealized.remove(id)
        }
        return settled
    }

    /// `predict_access_pattern`: the policy's forecast of one segment's requests per zone and bucket
    /// (nil without enough history, or for a policy that does not forecast).
    public func predictAccessPattern(segment: SegmentID, at time: Double) -> AccessPatternForecast? {
        guard case .predictive(let p) = policy, let forecast = p.predictAccessPattern(segment: segment, at: time) else { return nil }
        return AccessPatternForecast(segment: segment, zones: zones, bucketSeconds: forecast.bucketSeconds, startTime: forecast.startTime,
                                     requests: forecast.value, lower: forecast.lower, upper: forecast.upper,
                                     writeFraction: forecast.writeFraction)
    }

    // MARK: - Translation

    struct PlacementModel {
        var map: ShardLayout
        /// Library shard id → live shard id, and back.
        var liveShard: [ShardID: ShardID]
        var placementShard: [ShardID: ShardID]
        /// Live shards that own no segment (split targets).
        var emptyShards: [ShardID]
    }

    func placementMap(_ map: ShardMap) throws -> PlacementModel {
        let runs = ReshardingAdvisor.liveShardsInOrder(map)
        guard Set(runs.map(\.shard)).count == runs.count else {
            throw ControllerRecordError(description: "a shard owns more than one run of segments")
        }
        let nodeIndex = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($0.element, $0.offset) })
        let zoneIndex = Dictionary(uniqueKeysWithValues: zones.enumerated().map { ($0.element, $0.offset) })
        let shards = try runs.map { run in
            guard let record = map.shards[run.shard] else { throw ControllerRecordError(description: "unknown shard \(run.shard)") }
            let voters = try record.replicas.map { replica in
                guard let node = nodeIndex[replica.node], let zone = zoneIndex[replica.zone] else {
                    throw ControllerRecordError(description: "shard \(run.shard)'s replica on node \(replica.node) is not a member")
                }
                return ReplicaPlacement(zone: zone, node: node)
            }
            return (segments: run.segments, voters: voters, leader: nodeIndex[record.leaderHint] ?? (voters.first?.node ?? 0))
        }
        let placement = try ShardLayout(keying: keying, shards: shards, topology: topology)
        var live: [ShardID: ShardID] = [:]
        for (index, run) in runs.enumerated() { live[placement.shards[index].id] = run.shard }
        let owning = Set(runs.map(\.shard))
        return PlacementModel(map: placement, liveShard: live, placementShard: Dictionary(uniqueKeysWithValues: live.map { ($1, $0) }),
                              emptyShards: map.shards.keys.filter { !owning.contains($0) }.sorted())
    }

    private mutating func translate(_ action: PlacementAction, model: PlacementModel, time: Double) -> ControllerAction? {
        switch action {
        case .transferLeadership(let shard, let to):
            guard let live = model.liveShard[shard], nodes.indices.contains(to) else { return nil }
            return .transferLeadership(shard: live, to: nodes[to])
        case .prepareReplicaMove(let move):
            guard let live = model.liveShard[move.shard], let current = model.map.shard(move.shard),
                  let source = current.voters.first(where: { $0.zone == move.removeZone }),
                  nodes.indices.contains(move.add.node), nodes.indices.contains(source.node) else { return nil }
            var tracked = move
            tracked.state = .preparing(readyAt: .infinity)
            moves[move.id] = (tracked, live, nodes[source.node], nodes[move.add.node])
            return .prepareMove(move: move.id, shard: live, source: nodes[source.node], target: nodes[move.add.node])
        case .commitReplicaMove(let id, let newLeader):
            guard moves[id] != nil else { return nil }
            return .commitMove(move: id, newLeader: newLeader.flatMap { nodes.indices.contains($0) ? nodes[$0] : nil })
        case .abortReplicaMove(let id):
            guard moves[id] != nil else { return nil }
            return .abortMove(move: id)
        case .reshard(.split(let at, _)):
            guard let index = model.map.shardIndex(containing: at),
                  let live = model.liveShard[model.map.shards[index].id] else { return nil }
            return .split(shard: live, at: at)
        case .reshard(.merge(let boundary, _)):
            guard boundary > 0, let right = model.map.shardIndex(containing: boundary), let left = model.map.shardIndex(containing: boundary - 1),
                  let into = model.liveShard[model.map.shards[left].id], let other = model.liveShard[model.map.shards[right].id] else { return nil }
            return .merge(shard: into, otherShard: other)
        }
    }

    private func decision(for action: ControllerAction, model: PlacementModel, time: Double) -> ControllerDecision {
        func voters(_ shard: ShardID) -> (leader: NodeID?, nodes: [NodeID]) {
            guard let p = model.placementShard[shard], let s = model.map.shard(p) else { return (nil, []) }
            return (nodes.indices.contains(s.leader) ? nodes[s.leader] : nil, s.voters.map { nodes.indices.contains($0.node) ? nodes[$0.node] : 0 })
        }
        var d = ControllerDecision(id: 0, time: time, term: 0, policy: policyName, mode: .active, action: "", shard: 0,
                                   fromLeader: nil, toLeader: nil, fromNodes: [], toNodes: [], outcome: "decided", reason: policyReason)
        switch action {
        case .transferLeadership(let shard, let to):
            let (leader, set) = voters(shard)
            d.action = "transfer leadership"; d.shard = shard; d.fromLeader = leader; d.toLeader = to; d.fromNodes = set; d.toNodes = set
        case .prepareMove(_, let shard, let source, let target):
            let (leader, set) = voters(shard)
            d.action = "prepare replica move"; d.shard = shard; d.fromLeader = leader; d.fromNodes = set
            d.toNodes = set.map { $0 == source ? target : $0 }
        case .commitMove(let move, let leader):
            let shard = moves[move]?.liveShard ?? 0
            let (from, set) = voters(shard)
            d.action = "commit replica move"; d.shard = shard; d.fromLeader = from; d.toLeader = leader; d.fromNodes = set
            if let entry = moves[move] { d.toNodes = set.map { $0 == entry.source ? entry.target : $0 } }
        case .abortMove(let move):
            d.action = "abort replica move"; d.shard = moves[move]?.liveShard ?? 0
        case .split(let shard, let at):
            d.action = "split at segment \(at)"; d.shard = shard
            d.reason = model.emptyShards.isEmpty ? "LSMM: a hot segment gets a shard of its own (a new Raft group)"
                : "LSMM: a hot segment gets a shard of its own (shard \(model.emptyShards[0]), empty)"
        case .merge(let shard, let other):
            d.action = "merge shard \(other) into \(shard)"; d.shard = shard; d.reason = "LSMM: cold neighbours"
        }
        return d
    }

    /// How long before the bucket it was decided for a timed action is due: half a bucket at most,
    /// else 3 s (a leadership transfer or the commit of a prepared move lands within about 0.5-2.5 s
    /// here).
    public var actionLeadSeconds: Double { min(settings.bucketSeconds / 2, 3) }

    /// When the shell should carry out `action`, one of the last bucket's (seconds since 1970): nil
    /// for at once. A predictive transfer decided on the bucket that just ended is for the bucket
    /// after the one in progress; carried out at once, it would serve the wrong zone for a whole
    /// bucket, so it waits until shortly before that bucket.
    public func executionTime(of action: ControllerAction) -> Double? { executionTimes[action] }

    /// The live shard a move works on.
    public func shard(ofMove move: Int) -> ShardID? { moves[move]?.liveShard }

}
