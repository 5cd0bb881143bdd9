import AlmanacControl
import AlmanacKeyspace
import struct AlmanacPlacement.ReshardingConfig
import Testing

/// `trigger_resharding()` on a live map: LSMM's decisions, translated to live shard ids.
@Suite struct ReshardingAdvisorTests {
    static let zones = ["zone-a", "zone-b", "zone-c"]

    static func map(shards: Int = 4) throws -> ShardMap {
        try ShardMap.initial(keying: SegmentKeying(segmentCount: 4096), shardCount: shards) { _ in
            zones.enumerated().map { ReplicaLocation(node: NodeID($0.offset + 1), zone: $0.element) }
        }
    }

    static let config = try! ReshardingConfig(splitThresholdOpsPerSec: 100, consecutiveHotBuckets: 3, mergeFactor: 0.5, mergeColdBuckets: 4)

    @Test func aSegmentHotForEnoughBucketsIsCutOutOfItsShard() throws {
        let map = try Self.map()
        // Segment 1500 (shard 1: 1024...2047) at 200 ops/s for 3 one-minute buckets; the rest busy enough not to merge.
        var series: [SegmentID: [UInt64]] = [1500: [12_000, 12_000, 12_000]]
        for shard in 0..<4 { series[SegmentID(shard * 1024 + 7)] = [4_000, 4_000, 4_000] }
        let report = try ReshardingAdvisor.evaluate(map: map, series: series, bucketSeconds: 60, config: Self.config)
        #expect(report.evaluatedBuckets == 3)
        #expect(report.decisions.map(\.kind) == [.split, .split])
        #expect(report.decisions.map(\.segment) == [1500, 1501])
        #expect(report.decisions.allSatisfy { $0.shard == 1 && $0.loadOpsPerSec == 200 })
        #expect(report.hottest.first?.segment == 1500)
    }

    @Test func hotForFewerBucketsThanRequiredChangesNothing() throws {
        let series: [SegmentID: [UInt64]] = [1500: [0, 12_000, 12_000], 7: [4_000, 4_000, 4_000], 3000: [4_000, 4_000, 4_000]]
        let report = try ReshardingAdvisor.evaluate(map: try Self.map(), series: series, bucketSeconds: 60, config: Self.config)
        #expect(report.decisions.filter { $0.kind == .split }.isEmpty)
    }

    @Test func coldNeighboursMergeIntoTheLeftShard() throws {
        // Shards 2 and 3 idle for 4 buckets; 0 and 1 busy.
        let series: [SegmentID: [UInt64]] = [10: [6_000, 6_000, 6_000, 6_000], 1100: [6_000, 6_000, 6_000, 6_000]]
        let report = try ReshardingAdvisor.evaluate(map: try Self.map(), series: series, bucketSeconds: 60, config: Self.config)
        #expect(report.decisions == [ReshardingDecision(
            kind: .merge, shard: 2, segment: 3072, otherShard: 3, loadOpsPerSec: 0,
            reason: "shards 2 and 3 together stayed below 50.0 ops/s for 4 buckets")])
    }

    @Test func noSeriesNoDecision() throws {
        let report = try ReshardingAdvisor.evaluate(map: try Self.map(), series: [:], bucketSeconds: 60, config: Self.config)
        #expect(report.decisions.isEmpty && report.evaluatedBuckets == 0)
    }

    @Test func aShardOwningTwoRunsIsRefusedWithTheReason() throws {
        var map = try Self.map()
        try map.assign([5], to: 3)
        #expect(throws: ReshardingAdvisorError.self) {
            try ReshardingAdvisor.evaluate(map: map, series: [5: [1]], bucketSeconds: 60, config: Self.config)
        }
    }
}
