import AlmanacKeyspace
import struct AlmanacPlacement.NodeSpec
import enum AlmanacPlacement.ReshardOperation
import struct AlmanacPlacement.ReshardingConfig
import struct AlmanacPlacement.ReplicaPlacement
import struct AlmanacPlacement.ShardAssigner
import struct AlmanacPlacement.Topology
import struct AlmanacPlacement.ShardLayout

/// One split or merge that `trigger_resharding()` recommends, in the live cluster's terms.
public struct ReshardingDecision: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Cut `shard` so that `segment` starts a new shard.
        case split
        /// Move every segment of `otherShard` (which starts at `segment`) into `shard`.
        case merge
    }

    public var kind: Kind
    public var shard: ShardID
    public var segment: SegmentID
    public var otherShard: ShardID?
    /// The load behind the decision, in requests per second (the hot segment's, or the pair's).
    public var loadOpsPerSec: Double
    public var reason: String

    public init(kind: Kind, shard: ShardID, segment: SegmentID, otherShard: ShardID?, loadOpsPerSec: Double, reason: String) {
        self.kind = kind
        self.shard = shard
        self.segment = segment
        self.otherShard = otherShard
        self.loadOpsPerSec = loadOpsPerSec
        self.reason = reason
    }
}

/// What `trigger_resharding()` found: the decisions (possibly none) and what they rest on.
public struct ReshardingReport: Sendable, Hashable, Codable {
    public var decisions: [ReshardingDecision]
    public var evaluatedBuckets: Int
    public var bucketSeconds: Double
    public var splitThresholdOpsPerSec: Double
    public var consecutiveHotBuckets: Int
    public var mergeBelowOpsPerSec: Double
    public var mergeColdBuckets: Int
    /// The hottest segments over the series (requests per second, mean of the buckets).
    public var hottest: [SegmentLoadSummary]
}

public struct SegmentLoadSummary: Sendable, Hashable, Codable {
    public var segment: SegmentID
    public var shard: ShardID
    public var meanOpsPerSec: Double
    public var lastOpsPerSec: Double
}

/// Why the advisor cannot evaluate a map.
public struct ReshardingAdvisorError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
}

/// `trigger_resharding()` on the live cluster (pure): runs `AlmanacPlacement`'s load-based
/// split/merge decider (LSMM, ``ShardAssigner``) on the live shard map and the access monitor's
/// per-segment series, and reports its decisions. It changes nothing: moving segments is the job of
/// split and merge (docs/sharding.md).
///
/// The decider works on shards that own contiguous runs of segments (the initial map's form, kept
/// by splits and merges of neighbours); a map in another form is refused with the reason.
public enum ReshardingAdvisor {
    /// - `series`: requests per complete bucket for each active segment, oldest first, every series
    ///   the same length (the window's complete buckets); absent segments had no requests.
    /// - `now`: seconds; cooldowns are not known to the live map yet, so none applies.
    public static func evaluate(map: ShardMap, series: [SegmentID: [UInt64]], bucketSeconds: Double,
                                config: ReshardingConfig, now: Double = 0) throws(ReshardingAdvisorError) -> ReshardingReport {
        guard bucketSeconds > 0 else { throw ReshardingAdvisorError(description: "bucket length must be > 0") }
        let placementMap = try placementShardMap(map)
        let length = series.values.map(\.count).max() ?? 0
        let segmentCount = map.keying.segmentCount
        var assigner = ShardAssigner(config: config)
        for bucket in 0..<length {
            var loads = [Double](repeating: 0, count: segmentCount)
            for (segment, counts) in series where Int(segment) < segmentCount {
                // Series of different lengths are aligned at their newest bucket.
                let index = bucket - (length - counts.count)
                if index >= 0 { loads[Int(segment)] = Double(counts[index]) / bucketSeconds }
            }
            assigner.observe(loads: loads, map: placementMap)
        }
        let operations = length == 0 ? [] : assigner.triggerResharding(map: placementMap, now: now)
        let decisions: [ReshardingDecision] = operations.compactMap { operation in
            switch operation {
            case .split(let segment, let load):
                guard let shard = map.shard(ofSegment: segment) else { return nil }
                return ReshardingDecision(
                    kind: .split, shard: shard, segment: segment, otherShard: nil, loadOpsPerSec: load,
                    reason: "a segment at \(format(load)) ops/s stayed above \(format(config.splitThresholdOpsPerSec)) ops/s for "
                        + "\(config.consecutiveHotBuckets) buckets: it gets a shard of its own")
            case .merge(let segment, let combined):
                guard segment > 0,
                      let right = map.shard(ofSegment: segment), let left = map.shard(ofSegment: segment - 1) else { return nil }
                return ReshardingDecision(
                    kind: .merge, shard: left, segment: segment, otherShard: right, loadOpsPerSec: combined,
                    reason: "shards \(left) and \(right) together stayed below \(format(config.mergeFactor * config.splitThresholdOpsPerSec)) ops/s "
                        + "for \(config.mergeColdBuckets) buckets")
            }
        }
        let hottest = series.map { segment, counts in
            SegmentLoadSummary(segment: segment, shard: map.shard(ofSegment: segment) ?? 0,
                               meanOpsPerSec: counts.isEmpty ? 0 : Double(counts.reduce(0, +)) / Double(counts.count) / bucketSeconds,
                               lastOpsPerSec: Double(counts.last ?? 0) / bucketSeconds)
        }.sorted { ($0.meanOpsPerSec, $1.segment) > ($1.meanOpsPerSec, $0.segment) }.prefix(5)
        return ReshardingReport(
            decisions: decisions, evaluatedBuckets: length, bucketSeconds: bucketSeconds,
            splitThresholdOpsPerSec: config.splitThresholdOpsPerSec, consecutiveHotBuckets: config.consecutiveHotBuckets,
            mergeBelowOpsPerSec: config.mergeFactor * config.splitThresholdOpsPerSec, mergeColdBuckets: config.mergeColdBuckets,
            hottest: Array(hottest))
    }

    /// The live shards sorted by their first segment.
    static func liveShardsInOrder(_ map: ShardMap) -> [(shard: ShardID, segments: Range<SegmentID>)] {
        var runs: [(shard: ShardID, segments: Range<SegmentID>)] = []
        for index in 0..<map.keying.segmentCount {
            let segment = SegmentID(index)
            guard let shard = map.shard(ofSegment: segment) else { continue }
            if let last = runs.last, last.shard == shard, last.segments.upperBound == segment {
                runs[runs.count - 1].segments = last.segments.lowerBound..<(segment + 1)
            } else {
                runs.append((shard, segment..<(segment + 1)))
            }
        }
        return runs
    }

    /// The live map in the decider's model: one contiguous range per shard, voters by zone index,
    /// nodes numbered in id order.
    static func placementShardMap(_ map: ShardMap) throws(ReshardingAdvisorError) -> ShardLayout {
        let runs = liveShardsInOrder(map)
        guard Set(runs.map(\.shard)).count == runs.count else {
            throw ReshardingAdvisorError(description: "a shard owns more than one run of segments; the split/merge decider needs contiguous runs")
        }
        let replicas = map.shards.values.flatMap(\.replicas)
        let zones = Set(replicas.map(\.zone)).sorted()
        let nodes = Set(replicas.map(\.node)).sorted()
        let zoneOf = Dictionary(replicas.map { ($0.node, $0.zone) }, uniquingKeysWith: { first, _ in first })
        let nodeIndex = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($0.element, $0.offset) })
        let zoneIndex = Dictionary(uniqueKeysWithValues: zones.enumerated().map { ($0.element, $0.offset) })
        do {
            let topology = try Topology(
                zoneNames: zones, rttMs: zones.map { _ in zones.map { _ in 1 } },
                nodes: nodes.map { NodeSpec(name: "node-\($0)", zone: zoneIndex[zoneOf[$0] ?? ""] ?? 0, capacityOpsPerSec: 1e12) })
            let shards = try runs.map { run throws(ReshardingAdvisorError) in
                guard let record = map.shards[run.shard] else {
                    throw ReshardingAdvisorError(description: "segments name shard \(run.shard), which the map does not list")
                }
                let voters = record.replicas.map { ReplicaPlacement(zone: zoneIndex[$0.zone] ?? 0, node: nodeIndex[$0.node] ?? 0) }
                return (segments: run.segments, voters: voters, leader: nodeIndex[record.leaderHint] ?? (voters.first?.node ?? 0))
            }
            return try ShardLayout(keying: map.keying, shards: shards, topology: topology)
        } catch let error as ReshardingAdvisorError {
            throw error
        } catch {
            throw ReshardingAdvisorError(description: "the live map does not fit the decider's model: \(error)")
        }
    }

    static func format(_ value: Double) -> String {
        if value >= 100 { return String(Int(value.rounded())) }
        if value >= 1 { return String(Double((value * 10).rounded()) / 10) }
        return String(Double((value * 1000).rounded()) / 1000)
    }
}
