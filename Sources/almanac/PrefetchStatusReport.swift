import Foundation
import AlmanacClient
import AlmanacWire

/// Predictive journaling counters of the whole cluster: every node's, added up per shard (each node
/// counts what it did while it led a shard).
struct PrefetchStatusReport: Sendable {
    var settings: Almanac_Api_V1_PrefetchSettingsStatus?
    var total = Almanac_Api_V1_PrefetchShardStatus()
    var byShard: [UInt32: Almanac_Api_V1_PrefetchShardStatus] = [:]
    /// Async durability: writes answered ahead of commit, over every node.
    var answersAhead = Almanac_Api_V1_AnswersAheadStatus()

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
        a.yielded += b.yielded
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
            let ahead = status.answersAhead
            report.answersAhead.answered += ahead.answered
            report.answersAhead.durable += ahead.durable
            report.answersAhead.lost += ahead.lost
            report.answersAhead.outcomeUnknown += ahead.outcomeUnknown
            report.answersAhead.answeredAtCommit += ahead.answeredAtCommit
            report.answersAhead.exposureNsTotal += ahead.exposureNsTotal
            report.answersAhead.exposureNsMax = max(report.answersAhead.exposureNsMax, ahead.exposureNsMax)
            for shard in status.prefetch {
                add(&report.total, shard)
                add(&report.byShard[shard.shard, default: { var s = Almanac_Api_V1_PrefetchShardStatus(); s.shard = shard.shard; return s }()], shard)
            }
        }
        return report
    }

    /// The mean exposure window of async writes (answer to commit), in milliseconds; nil: none.
    var meanExposureMilliseconds: Double? {
        answersAhead.durable == 0 ? nil : Double(answersAhead.exposureNsTotal) / Double(answersAhead.durable) / 1e6
    }

    /// The `ctl status` line on async writes (empty when none was made).
    var answersAheadLines: [String] {
        let a = answersAhead
        guard a.answered + a.answeredAtCommit > 0 else { return [] }
        let mean = meanExposureMilliseconds.map { String(format: "%.2f", $0) } ?? "-"
        return ["ASYNC WRITES  answered ahead of commit \(a.answered)  durable \(a.durable)  lost \(a.lost)  unknown \(a.outcomeUnknown)"
                + "  answered at commit \(a.answeredAtCommit)  exposure mean \(mean) ms  max \(String(format: "%.2f", Double(a.exposureNsMax) / 1e6)) ms"
                + "  total \(a.exposureNsTotal) ns"]
    }

    /// Lines for `ctl status`.
    var lines: [String] {
        guard let settings else { return ["PREFETCH", "  off (prefetch_queue_size 0, model none, or fewer than 3 zones)"] + answersAheadLines }
        var out = ["PREFETCH  model \(settings.predictionModelType)  threshold \(settings.confidenceThreshold)  queue \(settings.prefetchQueueSize)  zones \(settings.zoneCount)"]
        func line(_ name: String, _ c: Almanac_Api_V1_PrefetchShardStatus) -> String {
            "  \(name)  predictions \(c.predictions)  issued \(c.issued)  confirmed \(c.confirmed)  expired \(c.expired)  requeued \(c.requeued)  dropped \(c.dropped)  refused \(c.refused)  waste \(String(format: "%.1f", Self.wastePercent(c)))%  journal bytes: potential \(c.potentialBytes) confirm \(c.confirmBytes) saved \(c.savedBytes)  unpredicted \(c.unpredicted)  yielded \(c.yielded)  queued \(c.queueDepth)  pending \(c.pending)"
        }
        out.append(line("all", total))
        for shard in byShard.keys.sorted() { if let c = byShard[shard] { out.append(line("shard \(shard)", c)) } }
        return out + answersAheadLines
    }
}
