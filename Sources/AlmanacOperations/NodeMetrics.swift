import AlmanacNode
import AlmanacServer
import AlmanacStorage
import AlmanacWire
import CoreMetrics
import Dispatch
import Metrics
import Prometheus
import Synchronization

/// A node's metrics: swift-metrics objects backed by one Prometheus registry per node (no global
/// state, so several nodes can live in one process). The request, commit and WAL paths only look
/// up pre-created or cached metric objects (no string formatting, no allocation after the first
/// request of a kind); gauges from the host's status are refreshed by ``update(from:)`` (at every
/// scrape). Names and labels: docs/operations.md.
public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    // Requests (RequestObserver).
    private struct RequestKey: Hashable { var operation: UInt16; var shard: UInt32 }
    private struct OutcomeKey: Hashable { var operation: UInt16; var shard: UInt32; var outcome: UInt8 }
    private let requestTimers = Mutex<[RequestKey: Metrics.Timer]>([:])
    private let requestCounters = Mutex<[OutcomeKey: CoreMetrics.Counter]>([:])

    // Commit latency per shard (host hook, on the host loop).
    private let commitTimers = Mutex<[UInt64: Metrics.Timer]>([:])

    // WAL (GroupCommitLog hook, on the thread that synced).
    private let fsyncTimer: Metrics.Timer
    private let walWriteTimer: Metrics.Timer
    private let walBatchEntries: CoreMetrics.Recorder
    private let walBatchRounds: CoreMetrics.Recorder

    // Sampled state.
    private let sampled = Mutex<[String: CoreMetrics.Gauge]>([:])
    /// The segments whose heat the last scrape exported (zeroed once they leave the hottest).
    private let exportedSegments = Mutex<Set<SegmentHeatKey>>([])
    private struct SegmentHeatKey: Hashable { var segment: UInt32; var shard: UInt32 }

    /// At most this many segments' heat is exported per node (the hottest by requests).
    public static let exportedSegmentCount = 32
    /// The prefetching counters of a shard (`almanac_prefetch_entries{event}`), as the wire names them.
    public static func prefetchEvents(_ s: Almanac_Api_V1_PrefetchShardStatus) -> [(event: String, count: UInt64)] {
        [("predictions", s.predictions), ("issued", s.issued), ("confirmed", s.confirmed), ("expired", s.expired),
         ("requeued", s.requeued), ("dropped", s.dropped), ("refused", s.refused), ("unpredicted", s.unpredicted),
         ("yielded", s.yielded)]
    }

    public static let requestDurationBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(4), .milliseconds(8),
        .milliseconds(16), .milliseconds(32), .milliseconds(64), .milliseconds(128), .milliseconds(256),
        .milliseconds(512), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
    ]
    public static let fsyncDurationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .seconds(1),
    ]
    public static let batchSizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]

    /// Operation names, indexed by ``RequestObservation/operation``.
    public static let operationNames = [
        "other", "mkdir", "create", "lookup", "getattr", "setattr", "rename", "unlink", "rmdir", "readdir", "open",
        "close", "link", "symlink", "readlink", "cluster_status", "open_session", "close_session", "keep_alive",
    ]
    /// Outcome labels of `almanac_requests_total`.
    public static let outcomeNames = ["ok", "namespace_error", "not_leader", "unavailable", "timeout", "error"]

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.requestDurationBuckets
        factory.durationHistogramBuckets["almanac_wal_fsync_duration_seconds"] = Self.fsyncDurationBuckets
        factory.durationHistogramBuckets["almanac_wal_write_duration_seconds"] = Self.fsyncDurationBuckets
        factory.defaultValueHistogramBuckets = Self.batchSizeBuckets
        self.factory = factory
        fsyncTimer = Metrics.Timer(label: "almanac_wal_fsync_duration_seconds", factory: factory)
        walWriteTimer = Metrics.Timer(label: "almanac_wal_write_duration_seconds", factory: factory)
        walBatchEntries = CoreMetrics.Recorder(label: "almanac_wal_sync_entries", aggregate: true, factory: factory)
        walBatchRounds = CoreMetrics.Recorder(label: "almanac_wal_sync_batches", aggregate: true, factory: factory)
    }

    /// Makes this node's registry the process-wide swift-metrics backend, so that metrics created
    /// anywhere with the global API (`Counter(label:)`, e.g. by the placement control plane) are
    /// exported on the same `/metrics`. Once per process (swift-metrics' rule): `almanac serve`.
    public func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(factory)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    // MARK: Hooks

    /// The host hooks: WAL group commits and proposal-to-apply (commit) latency.
    public var hostObserver: HostObserver {
        HostObserver(
            walSync: { [self] sample in recordWALSync(sample) },
            committed: { [self] group, nanos in recordCommit(group: group, nanoseconds: nanos) })
    }

    /// The API server hook: request rate, outcome and latency by operation and shard.
    public var requestObserver: any RequestObserver { NodeRequestObserver(metrics: self) }

    func recordWALSync(_ sample: GroupCommitSample) {
        fsyncTimer.recordNanoseconds(Int64(clamping: sample.syncNanos))
        walWriteTimer.recordNanoseconds(Int64(clamping: sample.writeNanos))
        walBatchEntries.record(sample.entries)
        walBatchRounds.record(sample.batches)
    }

    func recordCommit(group: UInt64, nanoseconds: UInt64) {
        let timer = commitTimers.withLock { timers in
            if let timer = timers[group] { return timer }
            let timer = Metrics.Timer(label: "almanac_commit_duration_seconds", dimensions: [("shard", "\(group)")],
                                      factory: factory)
            timers[group] = timer
            return timer
        }
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    func recordRequest(operation: UInt16, shard: UInt32, outcome: UInt8, nanoseconds: UInt64) {
        let key = RequestKey(operation: operation, shard: shard)
        let timer = requestTimers.withLock { timers in
            if let timer = timers[key] { return timer }
            let timer = Metrics.Timer(label: "almanac_request_duration_seconds",
                                      dimensions: Self.requestLabels(operation: operation, shard: shard), factory: factory)
            timers[key] = timer
            return timer
        }
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
        let outcomeKey = OutcomeKey(operation: operation, shard: shard, outcome: outcome)
        let counter = requestCounters.withLock { counters in
            if let counter = counters[outcomeKey] { return counter }
            let outcomeName = Int(outcome) < Self.outcomeNames.count ? Self.outcomeNames[Int(outcome)] : "error"
            let counter = CoreMetrics.Counter(label: "almanac_requests_total",
                                  dimensions: Self.requestLabels(operation: operation, shard: shard) + [("outcome", outcomeName)],
                                  factory: factory)
            counters[outcomeKey] = counter
            return counter
        }
        counter.increment()
    }

    static let noShard = UInt32.max

    private static func requestLabels(operation: UInt16, shard: UInt32) -> [(String, String)] {
        let name = Int(operation) < operationNames.count ? operationNames[Int(operation)] : "other"
        return [("operation", name), ("shard", shard == noShard ? "none" : "\(shard)")]
    }

    // MARK: Sampled state

    /// Refreshes the gauges that describe the node's state: per shard term, leader, commit, applied
    /// and apply lag; per peer and zone health; storage health and readiness.
    public func update(from snapshot: NodeSnapshot?, maxApplyLag: UInt64) {
        gauge("almanac_node_healthy").record(Probes.health(snapshot).ok ? 1 : 0)
        gauge("almanac_node_ready").record(Probes.readiness(snapshot, maxApplyLag: maxApplyLag).ok ? 1 : 0)
        guard let snapshot else { return }
        for group in snapshot.groups {
            let shard = [("shard", "\(group.group)")]
            gauge("almanac_raft_term", shard).record(Int64(clamping: group.term))
            gauge("almanac_raft_leader", shard).record(Int64(clamping: group.leader))
            gauge("almanac_raft_has_leader", shard).record(group.leader == 0 ? 0 : 1)
            gauge("almanac_raft_is_leader", shard).record(group.isLeader ? 1 : 0)
            gauge("almanac_raft_commit_index", shard).record(Int64(clamping: group.commit))
            gauge("almanac_raft_applied_index", shard).record(Int64(clamping: group.applied))
            gauge("almanac_raft_apply_lag", shard).record(Int64(clamping: group.applyLag))
            gauge("almanac_raft_quiesced", shard).record(group.quiesced ? 1 : 0)
            // Totals since the node started, sampled (the host owns the counters).
            gauge("almanac_raft_snapshots_sent", shard).record(Int64(clamping: group.snapshotsSent))
            gauge("almanac_raft_snapshot_bytes_sent", shard).record(Int64(clamping: group.snapshotBytesSent))
            gauge("almanac_raft_snapshots_installed", shard).record(Int64(clamping: group.snapshotsInstalled))
        }
        for peer in snapshot.peers {
            let labels = [("peer", "\(peer.id)"), ("zone", peer.zone)]
            gauge("almanac_peer_up", labels).record(peer.liveness == .alive ? 1 : 0)
            for state in NodeLiveness.allCases {
                gauge("almanac_peer_liveness", labels + [("state", state.rawValue)]).record(peer.liveness == state ? 1 : 0)
            }
            if let silence = peer.silenceNanos {
                gauge("almanac_peer_last_heard_seconds", labels).record(Double(silence) / 1e9)
            }
            if let link = peer.link {
                // Totals since the node started, sampled (the transport owns the counters).
                gauge("almanac_peer_connections", labels).record(link.connections)
                gauge("almanac_peer_stalled_connections", labels).record(link.stalledConnections)
                gauge("almanac_peer_connect_failures", labels).record(link.connectFailures)
                gauge("almanac_peer_dropped_messages", labels).record(link.droppedMessages)
            }
        }
        for zone in snapshot.zones {
            let labels = [("zone", zone.zone)]
            gauge("almanac_zone_up", labels).record(zone.health == .down ? 0 : 1)
            gauge("almanac_zone_healthy", labels).record(zone.health == .healthy ? 1 : 0)
        }
    }

    /// Refreshes the gauges of the metadata service: per shard it leads, the prefetching counters,
    /// queue and pending entries and journal bytes; the heat of the hottest segments
    /// (``exportedSegmentCount``) over the access monitor's window, a segment that left them
    /// set to 0.
    public func update(from service: ServiceSample) {
        for shard in service.prefetch {
            let label = ("shard", "\(shard.shard)")
            for (event, count) in Self.prefetchEvents(shard) {
                gauge("almanac_prefetch_entries", [label, ("event", event)]).record(Int64(clamping: count))
            }
            gauge("almanac_prefetch_queue_depth", [label]).record(Int64(shard.queueDepth))
            gauge("almanac_prefetch_pending", [label]).record(Int64(shard.pending))
            gauge("almanac_prefetch_bytes", [label, ("kind", "potential")]).record(Int64(clamping: shard.potentialBytes))
            gauge("almanac_prefetch_bytes", [label, ("kind", "confirm")]).record(Int64(clamping: shard.confirmBytes))
            gauge("almanac_prefetch_bytes", [label, ("kind", "saved")]).record(Int64(clamping: shard.savedBytes))
        }
        let hottest = service.segments.sorted { ($0.reads &+ $0.writes, $1.segment) > ($1.reads &+ $1.writes, $0.segment) }
            .prefix(Self.exportedSegmentCount)
        var exported = Set<SegmentHeatKey>()
        for heat in hottest {
            let key = SegmentHeatKey(segment: heat.segment, shard: heat.shard)
            exported.insert(key)
            recordHeat(key, reads: heat.reads, writes: heat.writes)
        }
        let dropped = exportedSegments.withLock { previous in
            defer { previous = exported }
            return previous.subtracting(exported)
        }
        for key in dropped { recordHeat(key, reads: 0, writes: 0) }
    }

    private func recordHeat(_ key: SegmentHeatKey, reads: UInt64, writes: UInt64) {
        let labels = [("segment", "\(key.segment)"), ("shard", "\(key.shard)")]
        gauge("almanac_segment_requests", labels + [("kind", "read")]).record(Int64(clamping: reads))
        gauge("almanac_segment_requests", labels + [("kind", "write")]).record(Int64(clamping: writes))
    }

    /// A gauge by name and labels, created once (sampling is not on a hot path).
    private func gauge(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Gauge {
        let key = labels.reduce(name) { $0 + "|" + $1.0 + "=" + $1.1 }
        return sampled.withLock { gauges in
            if let gauge = gauges[key] { return gauge }
            let gauge = CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
            gauges[key] = gauge
            return gauge
        }
    }
}

/// Classifies requests by operation and times them (``RequestObserver`` for ``NodeMetrics``).
struct NodeRequestObserver: RequestObserver {
    let metrics: NodeMetrics

    func requestStarted(_ request: Almanac_Api_V1_Request) -> RequestObservation {
        RequestObservation(operation: Self.operation(of: request), startNanos: DispatchTime.now().uptimeNanoseconds)
    }

    func requestFinished(_ observation: RequestObservation, response: Almanac_Api_V1_Response) {
        let now = DispatchTime.now().uptimeNanoseconds
        // cluster_status has no shard; everything else is labelled with the shard that answered.
        let shard = observation.operation == Self.clusterStatus ? NodeMetrics.noShard : UInt32(truncatingIfNeeded: response.shardID)
        metrics.recordRequest(operation: observation.operation, shard: shard, outcome: Self.outcome(of: response),
                              nanoseconds: now >= observation.startNanos ? now - observation.startNanos : 0)
    }

    /// The code of `cluster_status` (index in ``NodeMetrics/operationNames``).
    static let clusterStatus: UInt16 = 15

    /// Index of the request's operation in ``NodeMetrics/operationNames`` (0: unknown).
    static func operation(of request: Almanac_Api_V1_Request) -> UInt16 {
        switch request.operation {
        case .mkdir: 1
        case .create: 2
        case .lookup: 3
        case .getattr: 4
        case .setattr: 5
        case .rename: 6
        case .unlink: 7
        case .rmdir: 8
        case .readdir: 9
        case .open: 10
        case .close: 11
        case .link: 12
        case .symlink: 13
        case .readlink: 14
        case .clusterStatus: clusterStatus
        case .openSession: 16
        case .closeSession: 17
        case .keepAlive: 18
        default: 0
        }
    }

    /// Index into ``NodeMetrics/outcomeNames``.
    static func outcome(of response: Almanac_Api_V1_Response) -> UInt8 {
        guard response.hasError else { return 0 }
        switch response.error.code {
        case .ok: return 0
        case .notLeader: return 2
        case .unavailable: return 3
        case .timeout: return 4
        default:
            return response.error.code.rawValue < 20 ? 1 : 5
        }
    }
}
