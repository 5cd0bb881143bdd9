import AlmanacPredict
import AlmanacWire
import Foundation
import Histogram

/// The outcome of `almanac replay`, as text or JSON.
struct ReplayReport: Codable {
    struct Latency: Codable {
        var op: String
        var count: UInt64
        var p50Micros: UInt64
        var p99Micros: UInt64
        var meanMicros: Double
    }

    struct Prefetch: Codable {
        var model: String
        var threshold: Double
        var queueSize: UInt32
        var predictions: UInt64
        var issued: UInt64
        var confirmed: UInt64
        var expired: UInt64
        var requeued: UInt64
        var dropped: UInt64
        var refused: UInt64
        var unpredicted: UInt64
        /// Predictions not queued because the node was busy with requests.
        var yielded: UInt64
        var wastePercent: Double
        var potentialBytes: UInt64
        var confirmBytes: UInt64
        var savedBytes: UInt64
    }

    var trace: String
    var events: Int
    var streams: Int
    var setupEntries: Int
    var setupSeconds: Double
    var replaySeconds: Double
    var opsPerSecond: Double
    var latency: [Latency]
    var expectedENOENT: Int
    var reproducedENOENT: Int
    var unexpectedSuccess: Int
    var failures: Int
    var failureSamples: [String]
    var skipped: [String: Int]
    /// The cluster's counters over the run (after minus before); nil: prefetching off.
    var prefetch: Prefetch?
    /// Async durability over the run: writes answered ahead of commit, and their mean exposure
    /// window (answer to majority commit) in milliseconds; nil: no async write.
    var answeredAhead: UInt64?
    var meanExposureMilliseconds: Double?

    init(trace: String, plan: ReplayPlan, stats: ReplayStats, seconds: Double, setupSeconds: Double, streams: Int,
         before: PrefetchStatusReport, after: PrefetchStatusReport) async {
        self.trace = trace
        events = plan.events.count
        self.streams = streams
        setupEntries = plan.setup.count
        self.setupSeconds = setupSeconds
        replaySeconds = seconds
        opsPerSecond = seconds > 0 ? Double(plan.events.count) / seconds : 0
        func row(_ name: String, _ h: Histogram<UInt64>) -> Latency {
            Latency(op: name, count: h.totalCount, p50Micros: h.valueAtPercentile(50), p99Micros: h.valueAtPercentile(99), meanMicros: h.mean)
        }
        var rows = [row("all", await stats.all)]
        let byOp = await stats.byOp
        for op in MetadataOp.allCases { if let h = byOp[op] { rows.append(row("\(op)", h)) } }
        latency = rows
        expectedENOENT = plan.expectedFailures
        reproducedENOENT = await stats.reproducedENOENT
        unexpectedSuccess = await stats.unexpectedSuccess
        failures = await stats.failures
        failureSamples = await stats.failureSamples
        skipped = await stats.skipped
        let durable = after.answersAhead.durable - min(after.answersAhead.durable, before.answersAhead.durable)
        if durable > 0 {
            answeredAhead = after.answersAhead.answered - min(after.answersAhead.answered, before.answersAhead.answered)
            let exposure = after.answersAhead.exposureNsTotal - min(after.answersAhead.exposureNsTotal, before.answersAhead.exposureNsTotal)
            meanExposureMilliseconds = Double(exposure) / Double(durable) / 1e6
        }
        if let settings = after.settings {
            let a = after.total, b = before.total
            prefetch = Prefetch(
                model: settings.predictionModelType, threshold: settings.confidenceThreshold, queueSize: settings.prefetchQueueSize,
                predictions: a.predictions - b.predictions, issued: a.issued - b.issued, confirmed: a.confirmed - b.confirmed,
                expired: a.expired - b.expired, requeued: a.requeued - b.requeued, dropped: a.dropped - b.dropped,
                refused: a.refused - b.refused, unpredicted: a.unpredicted - b.unpredicted, yielded: a.yielded - b.yielded,
                wastePercent: a.issued > b.issued ? 100 * Double(a.expired - b.expired) / Double(a.issued - b.issued) : 0,
                potentialBytes: a.potentialBytes - b.potentialBytes, confirmBytes: a.confirmBytes - b.confirmBytes,
                savedBytes: a.savedBytes - b.savedBytes)
        }
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    func text() -> String {
        var out: [String] = []
        out.append("trace \(trace): \(events) events in \(streams) streams; namespace \(setupEntries) entries created in \(String(format: "%.2f", setupSeconds)) s")
        out.append("replay \(String(format: "%.2f", replaySeconds)) s, \(String(format: "%.0f", opsPerSecond)) ops/s")
        out.append("ENOENT: \(reproducedENOENT) of \(expectedENOENT) reproduced, \(unexpectedSuccess) lookups succeeded that failed in the trace; \(failures) other failures")
        for sample in failureSamples { out.append("  e.g. \(sample)") }
        for (reason, count) in skipped.sorted(by: { $0.value > $1.value }) { out.append("  skipped \(count): \(reason)") }
        func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + fill : fill + text
        }
        out.append(pad("op", 10, left: true) + pad("count", 8) + pad("p50 µs", 10) + pad("p99 µs", 10) + pad("mean µs", 10))
        for row in latency {
            out.append(pad(row.op, 10, left: true) + pad("\(row.count)", 8) + pad("\(row.p50Micros)", 10) + pad("\(row.p99Micros)", 10)
                       + pad(String(format: "%.0f", row.meanMicros), 10))
        }
        if let p = prefetch {
            out.append("prefetch (model \(p.model), threshold \(p.threshold), queue \(p.queueSize)): predictions \(p.predictions), issued \(p.issued), confirmed \(p.confirmed), expired \(p.expired), requeued \(p.requeued), dropped \(p.dropped), refused \(p.refused), unpredicted \(p.unpredicted), yielded \(p.yielded)")
            out.append("  waste \(String(format: "%.1f", p.wastePercent))% of issued; journal bytes: potential \(p.potentialBytes), confirmations \(p.confirmBytes) (replacing \(p.savedBytes + p.confirmBytes) bytes of full entries)")
        } else {
            out.append("prefetch: off")
        }
        if let answeredAhead, let meanExposureMilliseconds {
            out.append("async: \(answeredAhead) writes answered ahead of commit; mean exposure window (answer to majority commit) \(String(format: "%.2f", meanExposureMilliseconds)) ms")
        }
        return out.joined(separator: "\n")
    }
}
