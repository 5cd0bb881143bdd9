import AlmanacKeyspace
/// Tail-aware planning: which shards may take placements that push some of their clients above the tail bound.
///
/// Moving every voter next to the dominant zone makes the remaining remote clients pay the longest round trip.
/// The mean gains, the tail grows. The rule here keeps the tail no worse than the home placement's:
/// - *Bound.* `S` is the `quantile` (p99) of the network latency that the observed operations of the last season
///   would have had under the home placement (where each segment started). It is measured, not configured.
/// - *Budget.* Over a sliding season (the last season's observed buckets before the planning horizon plus the
///   horizon's forecast), the operations above `S` may be at most `budgetFraction x (1 - quantile)` of all
///   operations (80 % of the 1 % that p99 allows, by default). Budget the quiet part of the day left unused goes
///   to the part where the load is far from home.
/// - *Allocation.* For every shard, the best placement per bucket with and without the bound gives the mean cost
///   the bound costs it and the tail operations it would add. Shards are admitted in order of mean gain per tail
///   operation while the budget lasts (shards admitted in the previous pass get a 25 % bonus, so the allocation
///   does not flap). Admitted shards plan with the mean objective; the others pay `penaltyMs` (100 s: in effect a
///   hard constraint) per operation
///   above `S` in every comparison, so their planner avoids such placements.
/// Pure value type; the predictive policy calls it once per bucket.
public struct TailBudget: Sendable {
    public var quantile: Double
    public var budgetFraction: Double
    public var penaltyMs: Double
    /// Shards allowed to exceed the bound in the current pass.
    public private(set) var admitted: Set<ShardID> = []
    /// The bound of the current pass (nil before one season of history).
    public private(set) var boundMs: Double?

    public init(quantile: Double = 0.99, budgetFraction: Double = 0.8, penaltyMs: Double = 100_000) {
        self.quantile = Swift.min(0.9999, Swift.max(0.5, quantile))
        self.budgetFraction = Swift.max(0, budgetFraction)
        self.penaltyMs = Swift.max(0, penaltyMs)
    }

    /// Weighted quantile of (latency, ops) pairs.
    static func weightedQuantile(_ pairs: [(ms: Double, ops: Double)], _ q: Double) -> Double? {
        let total = pairs.reduce(0) { $0 + $1.ops }
        guard total > 0 else { return nil }
        var acc = 0.0
        for p in pairs.sorted(by: { $0.ms < $1.ms }) where p.ops > 0 {
            acc += p.ops
            if acc >= q * total { return p.ms }
        }
        return pairs.map(\.ms).max()
    }

    /// Sets the bound from per-(segment, zone) observed operations and the home placement's latency for them.
    public mutating func setBound(observed: [(ms: Double, ops: Double)]) {
        boundMs = Self.weightedQuantile(observed, quantile)
    }

    /// Allocates the budget for this pass over `outlooks` (forecasts per bucket, ops/s per zone). `pastOps` and
    /// `pastTailOps` are the operations (and those above the bound) observed in the season before the horizon,
    /// in the forecasts' unit (ops/s summed over buckets).
    public mutating func allocate(outlooks: [ShardOutlook], topology: Topology, latency: LatencyModel, replicationFactor rf: Int,
                                  pastOps: Double = 0, pastTailOps: Double = 0) {
        guard let bound = boundMs else { admitted = []; return }
        let sets = ReactiveReplicaRebalancer.zoneSets(topology, rf: rf)
        // Network latency of every (set, leader) for every client zone, computed once.
        var configs: [[Double]] = []
        for zs in sets { for l in zs { configs.append((0..<topology.zoneCount).map { latency.networkMs(client: $0, leaderZone: l, voterZones: zs, topology: topology) }) } }
        var totalOps = 0.0, floorTail = 0.0
        var candidates: [(id: ShardID, value: Double, extra: Double)] = []
        for o in outlooks {
            var costFree = 0.0, tailFree = 0.0, costBound = 0.0, tailBound = 0.0
            for t in 0..<o.forecast.horizon {
                let ops = o.forecast.value[t]
                totalOps += ops.reduce(0, +)
                var bestFree = (cost: Double.infinity, tail: 0.0), bestBound = (tail: Double.infinity, cost: Double.infinity)
                for lat in configs {
                    var c = 0.0, tail = 0.0
                    for z in ops.indices where ops[z] > 0 { c += ops[z] * lat[z]; if lat[z] > bound + 1e-9 { tail += ops[z] } }
                    if c < bestFree.cost { bestFree = (c, tail) }
                    if tail < bestBound.tail - 1e-12 || (abs(tail - bestBound.tail) <= 1e-12 && c < bestBound.cost) { bestBound = (tail, c) }
                }
                costFree += bestFree.cost; tailFree += bestFree.tail
                costBound += bestBound.cost; tailBound += bestBound.tail
            }
            floorTail += tailBound
            if tailFree > tailBound, costBound > costFree {
                let bonus = admitted.contains(o.shard.id) ? 1.25 : 1
                candidates.append((o.shard.id, (costBound - costFree) * bonus, tailFree - tailBound))
            }
        }
        var budget = (1 - quantile) * budgetFraction * (totalOps + pastOps) - pastTailOps - floorTail
        var next = Set<ShardID>()
        for c in candidates.sorted(by: { $0.value / $0.extra > $1.value / $1.extra || ($0.value / $0.extra == $1.value / $1.extra && $0.id < $1.id) }) {
            guard c.extra <= budget else { continue }
            budget -= c.extra
            next.insert(c.id)
        }
        admitted = next
    }

    /// Operations of one observed bucket above the bound, for the sliding-season account: `ops[shard][zone]`
    /// with each shard's placement (leader zone, voter zones) during that bucket.
    public func tailOps(ops: [(leader: ZoneIndex, voters: [ZoneIndex], zoneOps: [Double])], topology: Topology, latency: LatencyModel) -> (ops: Double, tail: Double) {
        guard let b = boundMs else { return (0, 0) }
        var total = 0.0, tail = 0.0
        for o in ops {
            for z in o.zoneOps.indices where o.zoneOps[z] > 0 {
                total += o.zoneOps[z]
                if latency.networkMs(client: z, leaderZone: o.leader, voterZones: o.voters, topology: topology) > b + 1e-9 { tail += o.zoneOps[z] }
            }
        }
        return (total, tail)
    }

    /// The planner a shard plans with in this pass.
    public func planner(_ base: MigrationPlanner, for shard: ShardID) -> MigrationPlanner {
        guard let b = boundMs, !admitted.contains(shard) else { return base }
        return base.withTail(boundMs: b, penaltyMs: penaltyMs)
    }
}
