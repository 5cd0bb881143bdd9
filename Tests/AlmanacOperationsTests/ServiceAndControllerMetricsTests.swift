import AlmanacControl
@testable import AlmanacController
import AlmanacOperations
import AlmanacWire
import Foundation
import Prometheus
import Testing

@Suite("metrics of the metadata service and the placement controller")
struct ServiceAndControllerMetricsTests {
    static func text(_ metrics: NodeMetrics) -> String { String(decoding: metrics.exposition(), as: UTF8.self) }

    @Test func prefetchCountersSegmentHeatAndSnapshotTransfersPerShardAreExported() {
        let metrics = NodeMetrics()
        var shard = Almanac_Api_V1_PrefetchShardStatus()
        shard.shard = 2
        shard.predictions = 40; shard.issued = 30; shard.confirmed = 25; shard.expired = 3; shard.yielded = 7
        shard.queueDepth = 4; shard.pending = 2; shard.potentialBytes = 900; shard.confirmBytes = 210; shard.savedBytes = 1500
        // 40 segments: only the 32 hottest are exported.
        func heat(_ segment: UInt32, _ shard: UInt32, reads: UInt64, writes: UInt64) -> Almanac_Api_V1_SegmentLoad {
            var load = Almanac_Api_V1_SegmentLoad()
            load.segment = segment; load.shard = shard; load.reads = reads; load.writes = writes
            return load
        }
        let segments = (0..<40).map { heat(UInt32($0), UInt32($0 % 4), reads: UInt64($0), writes: 1) }
        metrics.update(from: ServiceSample(prefetch: [shard], segments: segments))
        let snapshot = NodeSnapshot(nodeID: 1, groups: [
            GroupProgress(group: 3, term: 2, leader: 1, isLeader: true, commit: 9, applied: 9,
                          snapshotsSent: 2, snapshotBytesSent: 4096, snapshotsInstalled: 1)])
        metrics.update(from: snapshot, maxApplyLag: 1000)
        var text = Self.text(metrics)
        for line in [
            #"almanac_prefetch_entries{shard="2",event="predictions"} 40"#,
            #"almanac_prefetch_entries{shard="2",event="confirmed"} 25"#,
            #"almanac_prefetch_entries{shard="2",event="yielded"} 7"#,
            #"almanac_prefetch_queue_depth{shard="2"} 4"#, #"almanac_prefetch_pending{shard="2"} 2"#,
            #"almanac_prefetch_bytes{shard="2",kind="saved"} 1500"#,
            #"almanac_segment_requests{segment="39",shard="3",kind="read"} 39"#,
            #"almanac_segment_requests{segment="8",shard="0",kind="write"} 1"#,
            #"almanac_raft_snapshots_sent{shard="3"} 2"#, #"almanac_raft_snapshot_bytes_sent{shard="3"} 4096"#,
            #"almanac_raft_snapshots_installed{shard="3"} 1"#,
        ] {
            #expect(text.contains(line), "missing \(line)")
        }
        #expect(!text.contains(#"segment="7""#), "a segment outside the 32 hottest was exported")

        // Segment 39 cools down to nothing: its gauges go to 0; segment 7 is hot now.
        let cooled = segments.filter { $0.segment != 39 } + [heat(7, 3, reads: 500, writes: 0)]
        metrics.update(from: ServiceSample(prefetch: [shard], segments: cooled.filter { $0.segment != 7 || $0.reads == 500 }))
        text = Self.text(metrics)
        #expect(text.contains(#"almanac_segment_requests{segment="39",shard="3",kind="read"} 0"#))
        #expect(text.contains(#"almanac_segment_requests{segment="7",shard="3",kind="read"} 500"#))
    }

    @Test func controllerDecisionsMovesAndForecastErrorAreExported() {
        let registry = PrometheusCollectorRegistry()
        let metrics = ControllerMetrics(factory: PrometheusMetricsFactory(registry: registry))
        func decision(_ action: String, _ outcome: String) -> ControllerDecision {
            ControllerDecision(id: 0, time: 0, term: 1, policy: "predictive", mode: .active, action: action, shard: 1,
                               fromLeader: nil, toLeader: nil, fromNodes: [], toNodes: [], outcome: outcome, reason: "")
        }
        metrics.decided([decision("transfer leadership", "applied: moved"), decision("split at segment 12", "failed: timeout"),
                         decision("merge shard 3 into 2", "shadow (not acted on)"), decision("transfer leadership", "applied: moved")])
        metrics.moveStarted(.replica)
        metrics.moveStarted(.replica)
        metrics.moveFailed(.replica)
        metrics.moveFinished(.replica, rolledBack: false, after: .milliseconds(1500))
        metrics.moveStarted(.merge)
        metrics.moveFinished(.merge, rolledBack: true, after: .seconds(3))
        metrics.forecastError(lastBucket: 0.42, bound: 0.35)
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        for line in [
            #"almanac_controller_decisions_total{action="transfer_leadership",outcome="applied"} 2"#,
            #"almanac_controller_decisions_total{action="split",outcome="failed"} 1"#,
            #"almanac_controller_decisions_total{action="merge",outcome="shadow"} 1"#,
            #"almanac_migrations_total{kind="replica"} 2"#, #"almanac_migrations_failed_total{kind="replica"} 1"#,
            #"almanac_migration_duration_seconds_count{kind="replica"} 1"#, #"almanac_migration_duration_seconds_sum{kind="replica"} 1.5"#,
            #"almanac_migrations_failed_total{kind="merge"} 1"#,
            "almanac_forecast_error_wape 0.42", "almanac_forecast_error_bound 0.35",
        ] {
            #expect(text.contains(line), "missing \(line) in\n\(text)")
        }
        #expect(!text.contains(#"almanac_migration_duration_seconds_count{kind="merge"}"#), "a rolled-back merge was timed as completed")
        #expect(ControllerMetrics.outcomeLabel("scheduled: in 3.0 s") == "scheduled")
        #expect(ControllerMetrics.outcomeLabel("dropped: the mode became shadow") == "dropped")
        #expect(ControllerMetrics.outcomeLabel("something else") == "other")
    }
}
