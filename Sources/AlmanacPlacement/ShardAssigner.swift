import AlmanacKeyspace
/// A typed resharding operation. Operations name segments, not shard ids, so a plan composes.
public enum ReshardOperation: Sendable, Hashable {
    /// Cut the shard containing `at` so that segment `at` starts a shard. `loadOpsPerSec` is the hot load seen.
    case split(at: SegmentID, loadOpsPerSec: Double)
    /// Merge the shard starting at `boundary` into its left neighbour. `combinedOpsPerSec` is their load.
    case merge(boundary: SegmentID, combinedOpsPerSec: Double)
}

/// Thresholds of the load-based split/merge policy (LSMM).
public struct ReshardingConfig: Sendable, Hashable {
    /// A segment is hot above this load (ops/s, bucket average).
    public var splitThresholdOpsPerSec: Double
    /// Consecutive hot buckets before a hot segment gets its own shard.
    public var consecutiveHotBuckets: Int
    /// Neighbours merge when their combined load stays below `mergeFactor * splitThreshold`.
    public var mergeFactor: Double
    /// Consecutive cold buckets before a merge.
    public var mergeColdBuckets: Int
    /// No split or merge touches a segment within this many seconds of its last change.
    public var cooldownSeconds: Double

    public init(splitThresholdOpsPerSec: Double, consecutiveHotBuckets: Int = 3, mergeFactor: Double = 0.5,
                mergeColdBuckets: Int = 8, cooldownSeconds: Double = 3600) throws {
        guard splitThresholdOpsPerSec > 0 else { throw PlacementError.invalidConfiguration("split threshold must be > 0") }
        guard consecutiveHotBuckets >= 1, mergeColdBuckets >= 1 else { throw PlacementError.invalidConfiguration("bucket counts must be >= 1") }
        guard mergeFactor > 0, mergeFactor < 1 else { throw PlacementError.invalidConfiguration("mergeFactor must be in (0,1) for hysteresis") }
        guard cooldownSeconds >= 0 else { throw PlacementError.invalidConfiguration("cooldown must be >= 0") }
        self.splitThresholdOpsPerSec = splitThresholdOpsPerSec
        self.consecutiveHotBuckets = consecutiveHotBuckets
        self.mergeFactor = mergeFactor
        self.mergeColdBuckets = mergeColdBuckets
        self.cooldownSeconds = cooldownSeconds
    }
}

/// LSMM: load-based split/merge. Feed it one complete bucket of per-segment loads at a time with
/// `observe`, then ask `triggerResharding` for the plan. Pure value type.
public struct ShardAssigner: Sendable {
    public let config: ReshardingConfig
    private var hotStreak: [SegmentID: Int] = [:]
    private var lastLoad: [SegmentID: Double] = [:]
    /// Cold streak of the boundary segment (the first segment of a shard) with its left neighbour.
    private var coldStreak: [SegmentID: Int] = [:]
    private var lastChange: [SegmentID: Double] = [:]
    /// Segments the forecast expects to be hot (above the split threshold for `consecutiveHotBuckets`
    /// consecutive buckets) within its horizon: a merge containing one would be split again, so it is not made.
    public private(set) var forecastHot: Set<SegmentID> = []

    public init(config: ReshardingConfig) { self.config = config }

    /// Records one complete bucket: `loads[s]` is segment s's average ops/s over the bucket.
    public mutating func observe(loads: [Double], map: ShardLayout) {
        for (i, l) in loads.enumerated() {
            let s = SegmentID(i)
            lastLoad[s] = l
            hotStreak[s] = l > config.splitThresholdOpsPerSec ? (hotStreak[s] ?? 0) + 1 : 0
        }
        let shards = map.shards
        guard shards.count > 1 else { return }
        for i in 1..<shards.count {
            let b = shards[i].segments.lowerBound
            let combined = load(of: shards[i - 1].segments) + load(of: shards[i].segments)
            coldStreak[b] = combined < config.mergeFactor * config.splitThresholdOpsPerSec ? (coldStreak[b] ?? 0) + 1 : 0
        }
    }

    /// Feeds the forecast: `loads[s]` is segment s's forecast ops/s per future bucket (e.g. the next season).
    /// Without a forecast (never called), merges are decided on the observed cold streak alone.
    public mutating func setForecast(loads: [[Double]]) {
        var hot = Set<SegmentID>()
        for (s, f) in loads.enumerated() {
            var run = 0
            for v in f {
                run = v > config.splitThresholdOpsPerSec ? run + 1 : 0
                if run >= config.consecutiveHotBuckets { hot.insert(SegmentID(s)); break }
            }
        }
        forecastHot = hot
    }

    private func load(of r: Range<SegmentID>) -> Double { r.reduce(0) { $0 + (lastLoad[$1] ?? 0) } }

    private func cooling(_ r: Range<SegmentID>, now: Double) -> Bool {
        r.contains { s in lastChange[s].map { now - $0 < config.cooldownSeconds } ?? false }
    }

    /// `trigger_resharding()`: the split/merge plan for the current map. Hot segments (above the split
    /// threshold for k consecutive buckets) are cut out into shards of their own; adjacent shards whose
    /// combined load stayed under `mergeFactor` x threshold for `mergeColdBuckets` merge, when their
    /// placement is identical and `busy` does not hold them. Segments in cooldown are left alone.
    public func triggerResharding(map: ShardLayout, now: Double, busy: Set<ShardID> = []) -> [ReshardOperation] {
        var ops: [ReshardOperation] = []
        var touched = Set<SegmentID>()
        for shard in map.shards where shard.segments.count > 1 && !busy.contains(shard.id) && !cooling(shard.segments, now: now) {
            for s in shard.segments where (hotStreak[s] ?? 0) >= config.consecutiveHotBuckets {
                let l = lastLoad[s] ?? 0
                if s > shard.segments.lowerBound, !touched.contains(s) { ops.append(.split(at: s, loadOpsPerSec: l)); touched.insert(s) }
                if s + 1 < shard.segments.upperBound, !touched.contains(s + 1) { ops.append(.split(at: s + 1, loadOpsPerSec: l)); touched.insert(s + 1) }
            }
        }
        let shards = map.shards
        var mergedInto = Set<Int>()
        if shards.count > 1 {
            for i in 1..<shards.count {
                let left = shards[i - 1], right = shards[i]
                let b = right.segments.lowerBound
                guard (coldStreak[b] ?? 0) >= config.mergeColdBuckets,
                      !busy.contains(left.id), !busy.contains(right.id),
                      !mergedInto.contains(i - 1), left.voters == right.voters, left.leader == right.leader,
                      !cooling(left.segments, now: now), !cooling(right.segments, now: now),
                      !left.segments.contains(where: touched.contains), !right.segments.contains(where: touched.contains),
                      // Forecast-aware: do not merge what the coming season would split again.
                      !left.segments.contains(where: forecastHot.contains), !right.segments.contains(where: forecastHot.contains)
                else { continue }
                ops.append(.merge(boundary: b, combinedOpsPerSec: load(of: left.segments) + load(of: right.segments)))
                mergedInto.insert(i)
            }
        }
        return ops
    }

    /// Records that `op` was applied at `now`, starting the cooldown of the segments it touched.
    public mutating func applied(_ op: ReshardOperation, map: ShardLayout, now: Double) {
        switch op {
        case .split(let at, _):
            if let s = map.shard(containing: at) { for seg in s.segments { lastChange[seg] = now } }
            if let s = map.shard(containing: at - 1) { for seg in s.segments { lastChange[seg] = now } }
        case .merge(let b, _):
            if let s = map.shard(containing: b) { for seg in s.segments { lastChange[seg] = now } }
            coldStreak[b] = 0
        }
    }

    /// Starts the cooldown of a shard's segments after a placement change (leader or replica move).
    public mutating func touched(segments: Range<SegmentID>, now: Double) {
        for s in segments { lastChange[s] = now }
    }
}
