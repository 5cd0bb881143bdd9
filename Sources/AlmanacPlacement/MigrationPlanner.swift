import AlmanacKeyspace
/// Settings of the forecast-led migration planner (PME).
public struct MigrationPlannerConfig: Sendable, Hashable {
    /// Added to the measured move time to get the lead time L.
    public var leadMarginSeconds: Double = 1800
    /// Replica moves are judged over [L, L + evaluationWindowSeconds].
    public var evaluationWindowSeconds: Double = 4 * 3600
    /// Buckets (from the one in progress) judged for leadership transfers and commits.
    public var nearBuckets: Int = 1
    /// Global budget of replica moves copying data at once.
    public var maxMovesInFlight: Int = 8
    /// A leader is only placed on a node whose forecast utilization (upper bound) stays under this.
    public var capacityHeadroom: Double = 0.85
    /// Net benefit must exceed cost by this factor: benefit >= (1 + hysteresis) * cost.
    public var hysteresis: Double = 0.5
    /// Minimum relative latency improvement for a leadership transfer or a commit.
    public var minImprovement: Double = 0.1
    /// No leadership change within this many seconds of the previous one (unless the leader node overloads).
    public var leaderCooldownSeconds: Double = 1800
    /// No replica move within this many seconds of the previous one, and no zone re-added within it.
    public var replicaCooldownSeconds: Double = 3600
    /// Prepared learners not committed within this time are abandoned.
    public var preparedTimeoutSeconds: Double = 3 * 3600
    /// Cost model: extra latency per operation while a snapshot streams from the shard (ms).
    public var catchUpPenaltyMs: Double = 2
    /// Cost model: op-milliseconds charged per GiB moved (bandwidth taken from other work).
    public var costPerGiBOpMs: Double = 200_000
    /// Cost model: pause of a leadership transfer or configuration change (ms).
    public var transferPauseMs: Double = 50
    /// Follower apply cost of one write relative to serving one operation.
    public var followerApplyCost: Double = 0.3
    /// Tail-aware objective: an operation whose network latency would exceed this bound (ms) costs
    /// `tailPenaltyMs` extra in every comparison (nil = mean-only objective). Set per shard by the policy.
    public var tailBoundMs: Double?
    public var tailPenaltyMs: Double = 0

    public init() {}
}

/// What the planner knows about one shard for one pass.
public struct ShardOutlook: Sendable {
    public var shard: Shard
    public var forecast: AccessForecast
}

/// Cooldown and reversal memory of a shard.
public struct ShardPlacementHistory: Sendable, Hashable {
    public var lastLeaderChange: Double = -.infinity
    public var lastReplicaChange: Double = -.infinity
    /// Zones whose voter was removed, with the time.
    public var removedZones: [ZoneIndex: Double] = [:]
    /// Nodes that lost this shard's leadership, with the time.
    public var leaderLeft: [NodeIndex: Double] = [:]
    public init() {}
}

/// A planned migration for one shard.
public struct MigrationPlan: Sendable, Hashable {
    public enum Decision: Sendable, Hashable {
        case none(reason: String)
        case transferLeadership(to: NodeIndex)
        case prepareMoves([(removeZone: ZoneIndex, add: ReplicaPlacement)])

        public static func == (a: Decision, b: Decision) -> Bool {
            switch (a, b) {
            case (.none(let x), .none(let y)): return x == y
            case (.transferLeadership(let x), .transferLeadership(let y)): return x == y
            case (.prepareMoves(let x), .prepareMoves(let y)):
                return x.count == y.count && zip(x, y).allSatisfy { $0.removeZone == $1.removeZone && $0.add == $1.add }
            default: return false
            }
        }
        public func hash(into h: inout Hasher) {
            switch self {
            case .none(let r): h.combine(0); h.combine(r)
            case .transferLeadership(let n): h.combine(1); h.combine(n)
            case .prepareMoves(let m): h.combine(2); for x in m { h.combine(x.removeZone); h.combine(x.add) }
            }
        }
    }

    public var shard: ShardID
    public var decision: Decision
    public var targetVoters: [ReplicaPlacement]
    public var targetLeader: NodeIndex
    /// Predicted gain from the pessimistic bound of the forecast (op-ms): the quantity decisions use.
    public var predictedGainOpMs: Double
    /// Predicted gain from the point forecast (op-ms).
    public var pointGainOpMs: Double = 0
    public var costOpMs: Double
    public var confidence: Double
    public var windowStart: Double
    public var windowEnd: Double
    /// When the target starts beating the current placement (the anticipated peak).
    public var anticipatedAt: Double?
    public var forecastOps: Double
    public var net: Double { predictedGainOpMs - costOpMs }
}

/// The forecast-led migration planner (PME). Pure: every input is passed in.
public struct MigrationPlanner: Sendable {
    public private(set) var config: MigrationPlannerConfig
    public let topology: Topology
    public let latency: LatencyModel
    public let replicationFactor: Int

    public init(config: MigrationPlannerConfig, topology: Topology, latency: LatencyModel, replicationFactor: Int) throws {
        guard replicationFactor >= 1, replicationFactor <= topology.zoneCount else {
            throw PlacementError.invalidConfiguration("replication factor \(replicationFactor) needs as many zones")
        }
        guard config.maxMovesInFlight >= 0 else { throw PlacementError.invalidConfiguration("maxMovesInFlight must be >= 0") }
        self.config = config
        self.topology = topology
        self.latency = latency
        self.replicationFactor = replicationFactor
    }

    /// This planner with the tail-aware objective set (`boundMs` nil turns it off).
    public func withTail(boundMs: Double?, penaltyMs: Double) -> MigrationPlanner {
        var p = self
        p.config.tailBoundMs = boundMs
        p.config.tailPenaltyMs = boundMs == nil ? 0 : penaltyMs
        return p
    }

    /// The latency an operation counts for in the objective: its network latency, plus the tail penalty when
    /// that latency exceeds the tail bound.
    @inline(__always)
    func objectiveMs(client z: ZoneIndex, leaderZone: ZoneIndex, voterZones: [ZoneIndex]) -> Double {
        let n = latency.networkMs(client: z, leaderZone: leaderZone, voterZones: voterZones, topology: topology)
        if let b = config.tailBoundMs, n > b + 1e-9 { return n + config.tailPenaltyMs }
        return n
    }

    // MARK: - Node load forecast

    /// Forecast load (ops/s) of every node at every bucket: leader ops plus follower apply load.
    /// With `lowerBound`, the sum of the forecasts' lower bounds instead of their point values.
    public func nodeLoads(outlooks: [ShardOutlook], horizon: Int, lowerBound: Bool = false) -> [[Double]] {
        var load = Array(repeating: Array(repeating: 0.0, count: topology.nodes.count), count: horizon)
        for o in outlooks { add(o, to: &load, sign: 1, lowerBound: lowerBound) }
        return load
    }

    func add(_ o: ShardOutlook, to load: inout [[Double]], sign: Double, lowerBound: Bool = false) {
        for t in 0..<Swift.min(load.count, o.forecast.horizon) {
            let tot = lowerBound ? o.forecast.lower[t].reduce(0, +) : o.forecast.total(t)
            for v in o.shard.voters {
                load[t][v.node] += sign * (v.node == o.shard.leader ? tot : tot * o.forecast.writeFraction * config.followerApplyCost)
            }
        }
    }

    // MARK: - Cost of a configuration at one bucket

    /// Latency cost (op-ms per second) of serving `ops` with leader `leader` and voters `voters` at a node
    /// whose other load is `base` ops/s, including the queueing it adds to the node's other operations.
    func cost(ops: [Double], leader: ReplicaPlacement, voterZones: [ZoneIndex], base: Double) -> Double {
        let cap = topology.nodes[leader.node].capacityOpsPerSec
        let tot = ops.reduce(0, +)
        let with = latency.serviceMs(utilization: (base + tot) / cap)
        let without = latency.serviceMs(utilization: base / cap)
        var c = tot * with + base * (with - without)
        for z in 0..<ops.count where ops[z] > 0 {
            c += ops[z] * objectiveMs(client: z, leaderZone: leader.zone, voterZones: voterZones)
        }
        return c
    }

    /// Best leader among `voters` at bucket t (respecting headroom when possible) and its cost.
    func bestLeader(voters: [ReplicaPlacement], ops: [Double], opsUpper: [Double], base: [Double]) -> (ReplicaPlacement, Double) {
        let zones = voters.map(\.zone)
        let upperTot = opsUpper.reduce(0, +)
        var best: (ReplicaPlacement, Double)?
        var bestAny: (ReplicaPlacement, Double)?
        for v in voters {
            let c = cost(ops: ops, leader: v, voterZones: zones, base: base[v.node])
            if c < (bestAny?.1 ?? .infinity) { bestAny = (v, c) }
            let fits = (base[v.node] + upperTot) / topology.nodes[v.node].capacityOpsPerSec <= config.capacityHeadroom
            if fits, c < (best?.1 ?? .infinity) { best = (v, c) }
        }
        return best ?? bestAny ?? (voters[0], .infinity)
    }

    // MARK: - Leadership (near window)

    /// The leadership decision for the near window: the best voter to lead, and the gain over the current leader
    /// using the forecast's pessimistic bound (zones that gain counted at their lower bound, zones that lose
    /// at their upper bound).
    public func leadershipChoice(outlook: ShardOutlook, nodeLoad: [[Double]], nodeLoadLower: [[Double]]? = nil, voters: [ReplicaPlacement]? = nil)
        -> (leader: ReplicaPlacement, currentCost: Double, bestCost: Double, gainLowerBound: Double)? {
        let s = outlook.shard
        let vs = voters ?? s.voters
        let f = outlook.forecast
        let n = Swift.min(config.nearBuckets, f.horizon, nodeLoad.count)
        guard n > 0, let current = s.voters.first(where: { $0.node == s.leader }) else { return nil }
        var base = nodeLoad
        add(outlook, to: &base, sign: -1)
        let baseLower = lowerBase(outlook, nodeLoadLower)
        var votes: [NodeIndex: Double] = [:]
        for t in 0..<n { votes[bestLeader(voters: vs, ops: f.value[t], opsUpper: f.upper[t], base: base[t]).0.node, default: 0] += 1 }
        guard let leaderNode = votes.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) })?.key,
              let leader = vs.first(where: { $0.node == leaderNode }) else { return nil }
        var curCost = 0.0, bestCost = 0.0, gainLB = 0.0
        let curZones = s.voterZones, newZones = vs.map(\.zone)
        for t in 0..<n {
            curCost += cost(ops: f.value[t], leader: current, voterZones: curZones, base: base[t][current.node])
            bestCost += cost(ops: f.value[t], leader: leader, voterZones: newZones, base: base[t][leader.node])
            gainLB += pessimisticGain(f: f, t: t, from: (current, curZones), to: (leader, newZones), base: base[t], baseLower: baseLower?[t])
        }
        let secs = f.bucketSeconds
        return (leader, curCost * secs, bestCost * secs, gainLB * secs)
    }

    /// Lower-bound node loads without this shard's own lower-bound load.
    func lowerBase(_ o: ShardOutlook, _ nodeLoadLower: [[Double]]?) -> [[Double]]? {
        guard var b = nodeLoadLower else { return nil }
        add(o, to: &b, sign: -1, lowerBound: true)
        return b
    }

    /// Gain (op-ms/s) at bucket t of moving from one (leader, voters) to another, with zones that gain at their
    /// lower bound and zones that lose at their upper bound; the service-time (overload) part is the smaller of
    /// its value at the point forecast and at the lower bounds, so a forecast surge cannot alone justify a move.
    func pessimisticGain(f: AccessForecast, t: Int, from: (ReplicaPlacement, [ZoneIndex]), to: (ReplicaPlacement, [ZoneIndex]),
                         base: [Double], baseLower: [Double]? = nil) -> Double {
        var g = 0.0
        for z in 0..<f.value[t].count {
            let d = objectiveMs(client: z, leaderZone: from.0.zone, voterZones: from.1)
                - objectiveMs(client: z, leaderZone: to.0.zone, voterZones: to.1)
            g += d * (d > 0 ? f.lower[t][z] : f.upper[t][z])
        }
        func svc(_ p: ReplicaPlacement, _ tot: Double, _ base: [Double]) -> Double {
            let cap = topology.nodes[p.node].capacityOpsPerSec
            let with = latency.serviceMs(utilization: (base[p.node] + tot) / cap)
            let without = latency.serviceMs(utilization: base[p.node] / cap)
            return tot * with + base[p.node] * (with - without)
        }
        let tot = f.total(t)
        var service = svc(from.0, tot, base) - svc(to.0, tot, base)
        if let bl = baseLower {
            let lo = f.lower[t].reduce(0, +)
            service = Swift.min(service, svc(from.0, lo, bl) - svc(to.0, lo, bl))
        }
        return g + service
    }

    // MARK: - Replica moves (window after the lead time)

    /// All voter sets with one voter per zone reachable for `shard`: existing voters keep their node,
    /// new zones use their least-loaded node over the window.
    func candidateVoterSets(shard: Shard, base: [[Double]], window: Range<Int>) -> [[ReplicaPlacement]] {
        let zones = Array(0..<topology.zoneCount).filter { !topology.nodesByZone[$0].isEmpty }
        guard zones.count >= replicationFactor else { return [shard.voters] }
        var nodeFor: [ZoneIndex: NodeIndex] = [:]
        for z in zones {
            if let v = shard.voters.first(where: { $0.zone == z }) { nodeFor[z] = v.node; continue }
            nodeFor[z] = topology.nodesByZone[z].min { a, b in
                let pa = window.map { base[$0][a] / topology.nodes[a].capacityOpsPerSec }.max() ?? 0
                let pb = window.map { base[$0][b] / topology.nodes[b].capacityOpsPerSec }.max() ?? 0
                return pa < pb || (pa == pb && a < b)
            }
        }
        var out: [[ReplicaPlacement]] = []
        func rec(_ start: Int, _ acc: [ZoneIndex]) {
            if acc.count == replicationFactor {
                out.append(acc.compactMap { z in nodeFor[z].map { ReplicaPlacement(zone: z, node: $0) } })
                return
            }
            guard start < zones.count else { return }
            for i in start..<zones.count { rec(i + 1, acc + [zones[i]]) }
        }
        rec(0, [])
        return out
    }

    /// `plan_migration(segment)` for the shard in `outlook`: candidates, constraints, cost-benefit, cheapest action.
    /// - Parameters:
    ///   - nodeLoad: forecast load of every node per bucket (from `nodeLoads`), including this shard.
    ///   - leadTimeSeconds: L, the measured move time plus the margin.
    ///   - movesInFlight: replica moves currently copying data (all shards).
    ///   - pendingMoves: this shard's moves not yet committed. While one copies data the shard is busy; prepared
    ///     learners count as already on their way, so only missing moves (e.g. after a failure) are planned.
    public func planMigration(outlook: ShardOutlook, nodeLoad: [[Double]], nodeLoadLower: [[Double]]? = nil, leadTimeSeconds: Double, now: Double,
                              history: ShardPlacementHistory, movesInFlight: Int, pendingMoves: [ReplicaMove], bytes: Double) -> MigrationPlan {
        let shardBusy = pendingMoves.contains(where: \.isPreparing)
        let s = outlook.shard
        let f = outlook.forecast
        let bucket = f.bucketSeconds
        var plan = MigrationPlan(shard: s.id, decision: .none(reason: "no better placement"), targetVoters: s.voters, targetLeader: s.leader,
                                 predictedGainOpMs: 0, costOpMs: 0, confidence: 0, windowStart: now, windowEnd: now,
                                 anticipatedAt: nil, forecastOps: 0)
        let lead = Swift.max(0, Int((leadTimeSeconds / bucket).rounded(.up)))
        let winLen = Swift.max(1, Int((config.evaluationWindowSeconds / bucket).rounded(.up)))
        let end = Swift.min(f.horizon, nodeLoad.count, lead + winLen)
        guard lead < end else { plan.decision = .none(reason: "forecast horizon shorter than lead time"); return plan }
        let window = lead..<end
        plan.windowStart = f.startTime + Double(lead) * bucket
        plan.windowEnd = f.startTime + Double(end) * bucket
        var base = nodeLoad
        add(outlook, to: &base, sign: -1)
        let baseLower = lowerBase(outlook, nodeLoadLower)

        func value(_ vs: [ReplicaPlacement], _ t: Int) -> (ReplicaPlacement, Double) {
            bestLeader(voters: vs, ops: f.value[t], opsUpper: f.upper[t], base: base[t])
        }
        // Cheapest action first: the current voters with the best leader per bucket is the baseline a
        // replica move must beat (leadership transfers are nearly free and happen in the near window).
        var currentValue = 0.0
        var currentPerT: [Double] = []
        for t in window { let c = value(s.voters, t).1; currentValue += c; currentPerT.append(c) }
        // Candidates: voter sets that beat the current placement at the lead time (the coming dominant zone
        // differs from what the current voters serve well). A set that only wins later waits for a later pass.
        // The benefit counts the run of buckets, from there on, in which the set keeps beating the current
        // placement: when the load moves on, a later pass plans the next move (and pays its cost).
        var best: (vs: [ReplicaPlacement], saved: Double, first: Int, end: Int)?
        var laterWinner = false
        let urgentSpan = 0...Swift.min(config.nearBuckets, window.count - 1)
        for vs in candidateVoterSets(shard: s, base: base, window: window) where Set(vs.map(\.zone)) != Set(s.voterZones) {
            let per = window.map { value(vs, $0).1 }
            func better(_ i: Int) -> Bool { per[i] < currentPerT[i] * (1 - config.minImprovement) }
            guard let k = urgentSpan.first(where: better) else {
                if per.indices.contains(where: better) { laterWinner = true }
                continue
            }
            var e = k
            var saved = 0.0
            while e < per.count, better(e) { saved += currentPerT[e] - per[e]; e += 1 }
            if saved > (best?.saved ?? 0) { best = (vs, saved, window.lowerBound + k, window.lowerBound + e) }
        }
        plan.forecastOps = window.reduce(0.0) { $0 + f.total($1) } * bucket
        guard let target = best else {
            plan.decision = .none(reason: laterWinner ? "not yet within lead time" : "no better placement")
            return plan
        }
        let first = target.first
        plan.anticipatedAt = f.startTime + Double(first) * bucket
        plan.windowStart = f.startTime + Double(first) * bucket
        plan.windowEnd = f.startTime + Double(target.end) * bucket

        // Benefit with the pessimistic side of the interval; cost of the moves.
        var gain = 0.0
        let targetZones = target.vs.map(\.zone)
        for t in first..<target.end {
            let (lc, _) = value(s.voters, t)
            let (lt, _) = value(target.vs, t)
            gain += pessimisticGain(f: f, t: t, from: (lc, s.voterZones), to: (lt, targetZones), base: base[t], baseLower: baseLower?[t])
        }
        gain *= bucket
        let adds = target.vs.filter { v in !s.voterZones.contains(v.zone) && !pendingMoves.contains { $0.add.zone == v.zone } }
        let removes = s.voters.filter { v in !targetZones.contains(v.zone) && !pendingMoves.contains { $0.removeZone == v.zone } }
        guard !adds.isEmpty, adds.count == removes.count else { plan.decision = .none(reason: "moves already prepared"); return plan }
        let moveSeconds = Swift.max(1, leadTimeSeconds - config.leadMarginSeconds)
        let opsRate = f.total(0)
        let perMove = moveSeconds * opsRate * config.catchUpPenaltyMs
            + bytes / 1_073_741_824 * config.costPerGiBOpMs
            + opsRate * config.transferPauseMs / 1000 * config.transferPauseMs
        plan.costOpMs = perMove * Double(adds.count)
        plan.predictedGainOpMs = gain
        plan.pointGainOpMs = target.saved * bucket
        // Confidence: the share of the point-forecast gain that survives the pessimistic bound.
        plan.confidence = plan.pointGainOpMs > 0 ? Swift.max(0, Swift.min(1, gain / plan.pointGainOpMs)) : 0
        plan.targetVoters = target.vs
        plan.targetLeader = value(target.vs, first).0.node

        // Constraints first: budget, cooldowns, reversals, one voter per zone (by construction).
        guard !shardBusy else { plan.decision = .none(reason: "move already in flight"); return plan }
        guard now - history.lastReplicaChange >= config.replicaCooldownSeconds else { plan.decision = .none(reason: "cooldown"); return plan }
        if adds.contains(where: { a in history.removedZones[a.zone].map { now - $0 < config.replicaCooldownSeconds } ?? false }) {
            plan.decision = .none(reason: "would reverse a recent move"); return plan
        }
        guard movesInFlight + adds.count <= config.maxMovesInFlight else { plan.decision = .none(reason: "in-flight budget"); return plan }
        guard gain > 0, gain >= (1 + config.hysteresis) * plan.costOpMs else {
            plan.decision = .none(reason: "lower bound does not justify the cost"); return plan
        }
        plan.decision = .prepareMoves(zip(removes, adds).map { (removeZone: $0.zone, add: $1) })
        return plan
    }
}
