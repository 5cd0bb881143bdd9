import Foundation

/// Text rendering of simulation results (a Markdown table).
public enum PlacementReport {
    public static func table(_ results: [SimulationResult]) -> String {
        var lines = ["| policy | p50 ms | p99 ms | mean ms | overload-min | moves (transfers+replica) | reversals (max/shard/cooldown) | GiB moved | before peak | splits/merges | fallback | audit (settled) |",
                     "|---|---:|---:|---:|---:|---|---|---:|---:|---|---:|---|"]
        for r in results {
            let peak = r.movesBeforePeakShare.map { String(format: "%.0f%%", $0 * 100) } ?? "-"
            let settled = r.auditEntries.filter { $0.realizedGainOpMs != nil }.count
            lines.append(String(format: "| %@ | %.1f | %.1f | %.1f | %.1f | %d (%d+%d) | %d (%d) | %.1f | %@ | %d/%d | %.0f%% | %d (%d) |",
                                r.policy.rawValue as NSString, r.p50Ms, r.p99Ms, r.meanMs, r.overloadMinutes, r.moves, r.leadershipTransfers,
                                r.replicaMoves, r.reversals, r.maxReversalsPerShardPerWindow, r.bytesMoved / 1_073_741_824, peak as NSString,
                                r.splits, r.merges, r.fallbackShare * 100, r.auditEntries.count, settled))
        }
        return lines.joined(separator: "\n")
    }

    public static func ratios(_ results: [SimulationResult]) -> String {
        guard let p = results.first(where: { $0.policy == .predictive }) else { return "" }
        var out: [String] = []
        for other in results where other.policy != .predictive && other.p99Ms > 0 {
            out.append(String(format: "predictive p99 vs %@: %.1f%% lower (%.1f ms vs %.1f ms)", other.policy.rawValue as NSString,
                              (1 - p.p99Ms / other.p99Ms) * 100, p.p99Ms, other.p99Ms))
        }
        return out.joined(separator: "\n")
    }
}
