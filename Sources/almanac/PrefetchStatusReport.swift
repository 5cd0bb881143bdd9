import Foundation
import AlmanacClient
import AlmanacWire

/// Predictive journaling counters of the whole cluster: every node's, added up per shard (each node
/// counts what it did while it led a shard).
struct PrefetchStatusReport: Sendable {
    var settings: Almanac_Api_V1_PrefetchSettingsStatus?
    var total = Almanac_Api_V1_PrefetchShardStatus()
    var byShard: [UInt32: Almanac_Api_V1_PrefetchShardStatus] = [:]

    /// Waste: issued potential entries that were never confirmed (expired), in percent of issued.
    static func wastePercent(_ counters: Almanac_Api_V1_PrefetchShardStatus) -> Double {
        counters.issued == 0 ? 0 : 100 * Double(counters.expired) / Double(counters.issued)
    }

    static func add(_ a: inout Almanac_Api_V1_PrefetchShardStatus, _ b: Almanac_Api_V1_PrefetchShardStatus) {
        a.predictions += b.predictions
        a.issued += b.issued
        a.confirmed += b.confirmed
        a.expired += b.expired
        a.requeued += b.requeued
        a.dropped += b.dropped
        a.refused += b.refused
        a.potentialBytes += b.potentialBytes
        a.confirmBytes += b.confirmBytes
        a.savedBytes += b.savedBytes
        a.queueDepth += b.queueDepth
        a.pending += b.pending
        a.unpredicted += b.unpredicted
    }

    /// Asks every node (nodes that do not answer are skipped).
    static func collect(nodes: [Almanac_Api_V1_NodeStatus]) async -> PrefetchStatusReport {
        var report = PrefetchStatusReport()
        for node in nodes where !node.clientAddress.isEmpty {
            let one = AlmanacClient(configuration: AlmanacClientConfiguration(
                endpoints: [node.clientAddress], attemptTimeout: .seconds(2), operationTimeout: .seconds(3), clientName: "prefetch-status"))
            let status = try? await one.status()
            await one.shutdown()
            guard let status, status.responderNodeID == node.nodeID else { continue }
            if status.hasPrefetchSettings { report.settings = status.prefetchSettings }
            for shard in status.prefetch {
                add(&report.total, shard)
                add(&report.byShard[shard.shard, default: { var s = Almanac_Api_V1_PrefetchShardStatus(); s.shard = shard.shard; return s }()], shard)
            }
        }
        return report
    }

    /// Lines for `ctl status`.
    var lines: [String] {
        guard let settings else { return ["PREFETCH", "  off (prefetch_queue_size 0, model none, or fewer than 3 zones)"] }
        var out = ["PREFETCH  model \(settings.predictionModelType)  threshold \(settings.confidenceThreshold)  queue \(settings.prefetchQueueSize)  zones \(settings.zoneCount)"]
        func line(_ name: String, _ c: Almanac_Api_V1_PrefetchShardStatus) -> String {
            "  \(name)  predictions \(c.predictions)  issued \(c.issued)  confirmed \(c.confirmed)  expired \(c.expired)  requeued \(c.requeued)  dropped \(c.dropped)  refused \(c.refused)  waste \(String(format: "%.1f", Self.wastePercent(c)))%  journal bytes: potential \(c.potentialBytes) confirm \(c.confirmBytes) saved \(c.savedBytes)  unpredicted \(c.unpredicted)  queued \(c.queueDepth)  pending \(c.pending)"
        }
        out.append(line("all", total))
        for shard in byShard.keys.sorted() { if let c = byShard[shard] { out.append(line("shard \(shard)", c)) } }
        return out
    }
}
