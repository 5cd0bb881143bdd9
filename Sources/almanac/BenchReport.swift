import Foundation
import Histogram

/// Latencies of one worker (or a merged set), in microseconds, in an HdrHistogram (3 significant digits).
struct BenchLatencies: Sendable {
    /// Highest latency the histogram tracks exactly (larger values are clamped): 120 s.
    static let highestMicroseconds: UInt64 = 120_000_000

    var byOperation: [BenchOperation: Histogram<UInt64>] = [:]
    var errors: [String: Int] = [:]

    private static func emptyHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .three)
    }

    /// All operations together (the per-operation histograms added up; each latency is recorded once).
    var all: Histogram<UInt64> {
        var total = Self.emptyHistogram()
        for histogram in byOperation.values { total.add(histogram) }
        return total
    }

    mutating func record(_ operation: BenchOperation, microseconds: UInt64) {
        let value = min(max(microseconds, 1), Self.highestMicroseconds)
        _ = byOperation[operation, default: Self.emptyHistogram()].record(value)
    }

    mutating func recordError(_ kind: String) { errors[kind, default: 0] += 1 }

    mutating func merge(_ other: BenchLatencies) {
        for (operation, histogram) in other.byOperation {
            if byOperation[operation] == nil {
                byOperation[operation] = histogram
            } else {
                byOperation[operation]?.add(histogram)
            }
        }
        for (kind, count) in other.errors { errors[kind, default: 0] += count }
    }

    var errorCount: Int { errors.values.reduce(0, +) }
}

/// Count and percentiles of one histogram, in milliseconds.
struct LatencySummary: Codable, Sendable, Equatable {
    var ops: UInt64
    var p50_ms: Double
    var p90_ms: Double
    var p99_ms: Double
    var p999_ms: Double
    var max_ms: Double

    init(_ histogram: Histogram<UInt64>) {
        let count = histogram.totalCount
        ops = count
        func ms(_ microseconds: UInt64) -> Double { count == 0 ? 0 : Double(microseconds) / 1000 }
        p50_ms = ms(histogram.valueAtPercentile(50))
        p90_ms = ms(histogram.valueAtPercentile(90))
        p99_ms = ms(histogram.valueAtPercentile(99))
        p999_ms = ms(histogram.valueAtPercentile(99.9))
        max_ms = ms(histogram.max)
    }
}

/// The result of one `almanac bench` run (the `--json` line). Field names follow peerload's output
/// (ops_s, p50_ms, ...) so that scripts can treat both the same way.
struct BenchReport: Codable, Sendable {
    var sys = "almanac"
    var label: String
    var mix: String
    var mode: String
    var target_rate: Double?
    var clients: Int
    var conns: Int
    var name_bytes: Int
    var durability: String
    var consistency: String
    var window_s: Double
    var ops: UInt64
    var errors: Int
    var error_kinds: [String: Int]
    var ops_s: Double
    var p50_ms: Double
    var p90_ms: Double
    var p99_ms: Double
    var p999_ms: Double
    var max_ms: Double
    /// Mean latency of the window's operations.
    var mean_ms: Double?
    var per_op: [String: LatencySummary]
    /// CPU of this process over the whole run (warm-up and measured window) per second of it.
    var loader_cpu_cores: Double
    /// CPU seconds of this process inside the measured window, and per 1000 operations of the window.
    var loader_cpu_window_s: Double?
    var loader_cpu_s_per_1000_ops: Double?
    /// CPU seconds the --cpu-pids processes used during the window, and per 1000 operations.
    var server_cpu_s: Double?
    var server_cpu_s_per_1000_ops: Double?
    /// Context switches of every thread of the --cpu-pids processes during the window, per
    /// operation (each one a wake-up: docs/benchmarks.md "One client: the cost is in the wake-ups").
    var server_context_switches_per_op: Double?
    /// Every operation that succeeded in the run, warm-up and the tail after the window included
    /// (what --phase-command's start and end enclose).
    var ops_all: UInt64?
    /// Async durability: writes still not known durable after the run and a wait for them, and the
    /// replays after leader changes (how many answered differently: lost with their leader).
    var unconfirmed_after_wait: Int?
    var replayed_writes: Int?
    var replayed_writes_changed: Int?

    init(configuration: BenchConfiguration, latencies: BenchLatencies, windowSeconds: Double, loaderCPUCores: Double) {
        label = configuration.label
        mix = configuration.mix.name
        mode = configuration.openLoopSchedule != nil ? "open" : "closed"
        target_rate = configuration.rate > 0 ? configuration.rate : nil
        clients = configuration.clients
        conns = configuration.connections
        name_bytes = configuration.nameBytes
        durability = configuration.durability
        consistency = configuration.consistency
        window_s = windowSeconds
        let summary = LatencySummary(latencies.all)
        ops = summary.ops
        errors = latencies.errorCount
        error_kinds = latencies.errors
        ops_s = windowSeconds > 0 ? Double(summary.ops) / windowSeconds : 0
        p50_ms = summary.p50_ms
        p90_ms = summary.p90_ms
        p99_ms = summary.p99_ms
        p999_ms = summary.p999_ms
        max_ms = summary.max_ms
        let all = latencies.all
        mean_ms = all.totalCount > 0 ? all.mean / 1000 : 0
        per_op = Dictionary(uniqueKeysWithValues: latencies.byOperation.map { ($0.key.rawValue, LatencySummary($0.value)) })
        loader_cpu_cores = loaderCPUCores
    }

    /// The latency distribution of the window, one "microseconds count" line per recorded value
    /// level (`bench --latency-file`: runs can then be merged exactly).
    static func distribution(_ latencies: BenchLatencies) -> String {
        latencies.all.recordedValues().map { "\($0.value) \($0.count)\n" }.joined()
    }

    /// One JSON object on one line, keys sorted.
    func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// A short human-readable summary.
    var text: String {
        var lines: [String] = []
        let rate = target_rate.map { " at " + String(format: "%.0f", $0) + " ops/s" } ?? ""
        lines.append("almanac bench: mix \(mix), \(mode) loop\(rate), \(clients) clients on \(conns) connections, "
                     + String(format: "%.1f", window_s) + " s window")
        let kinds = error_kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("  \(ops) ops, " + String(format: "%.1f", ops_s) + " ops/s, \(errors) errors" + (kinds.isEmpty ? "" : " (\(kinds))"))
        lines.append("  op           count     p50 ms    p90 ms    p99 ms  p99.9 ms    max ms")
        func row(_ name: String, _ s: LatencySummary) -> String {
            let padded = name.count < 9 ? name + String(repeating: " ", count: 9 - name.count) : name
            return "  " + padded + String(format: " %9llu  %9.3f %9.3f %9.3f %9.3f %9.3f", s.ops, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms)
        }
        for (name, summary) in per_op.sorted(by: { $0.key < $1.key }) { lines.append(row(name, summary)) }
        lines.append(row("all", LatencySummary(ops: ops, p50: p50_ms, p90: p90_ms, p99: p99_ms, p999: p999_ms, max: max_ms)))
        lines.append("  load generator CPU: " + String(format: "%.2f", loader_cpu_cores) + " cores"
                     + (loader_cpu_s_per_1000_ops.map { String(format: ", %.4f s per 1000 ops in the window", $0) } ?? ""))
        if let replayed_writes, let unconfirmed_after_wait {
            lines.append("  async writes: \(replayed_writes) replayed after a leader change (\(replayed_writes_changed ?? 0) answered differently), "
                         + "\(unconfirmed_after_wait) not known durable after the final wait")
        }
        if let server_cpu_s, let perK = server_cpu_s_per_1000_ops {
            lines.append("  server CPU in the window: " + String(format: "%.2f s, %.3f s per 1000 ops", server_cpu_s, perK))
            if let switches = server_context_switches_per_op {
                lines.append("  server context switches in the window: " + String(format: "%.2f per op", switches))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension LatencySummary {
    init(ops: UInt64, p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
        self.ops = ops
        p50_ms = p50
        p90_ms = p90
        p99_ms = p99
        p999_ms = p999
        max_ms = max
    }
}
