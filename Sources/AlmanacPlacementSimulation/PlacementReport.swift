import Foundation
import AlmanacPlacement

/// Text rendering of simulation results (a Markdown table).
public enum PlacementReport {
    public static func table(_ results: [SimulationResult]) -> String {
        var lines = ["| policy | p50 ms | p99 ms | mean ms | overload-min | moves (transfers+replica) | reversals (max/shard/cooldown) | GiB moved | before peak | splits/merges (undone) | mean shards | fallback | audit (settled) |",
                     "|---|---:|---:|---:|---:|---|---|---:|---:|---|---:|---:|---|"]
        for r in results {
            let peak = r.movesBeforePeakShare.map { String(format: "%.0f%%", $0 * 100) } ?? "-"
            let settled = r.auditEntries.filter { $0.realizedGainOpMs != nil }.count
            lines.append(String(format: "| %@ | %.1f | %.1f | %.1f | %.1f | %d (%d+%d) | %d (%d) | %.1f | %@ | %d/%d (%d) | %.1f | %.0f%% | %d (%d) |",
                                r.policy.rawValue as NSString, r.p50Ms, r.p99Ms, r.meanMs, r.overloadMinutes, r.moves, r.leadershipTransfers,
                                r.replicaMoves, r.reversals, r.maxReversalsPerShardPerWindow, r.bytesMoved / 1_073_741_824, peak as NSString,
                                r.splits, r.merges, r.mergesUndone, r.meanShards, r.fallbackShare * 100, r.auditEntries.count, settled))
        }
        return lines.joined(separator: "\n")
    }

    /// Per client region: p50 / p99 / mean (ms) of every policy, one row per region.
    public static func regionTable(_ results: [SimulationResult]) -> String {
        guard let regions = results.first?.regions.map(\.region), !regions.isEmpty else { return "" }
        var lines = ["| region (share of ops) | " + results.map { "\($0.policy.rawValue) p50 / p99 / mean" }.joined(separator: " | ") + " |",
                     "|---|" + results.map { _ in "---|" }.joined()]
        for (i, name) in regions.enumerated() {
            let share = results.first.map { $0.regions[i].share * 100 } ?? 0
            lines.append(String(format: "| %@ (%.1f%%) | ", name as NSString, share) + results.map { r in
                guard i < r.regions.count else { return "-" }
                let g = r.regions[i]
                return String(format: "%.1f / %.1f / %.1f", g.p50Ms, g.p99Ms, g.meanMs)
            }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// One line per policy with an audit: decisions, predicted and realized gain (op-seconds), settlement.
    public static func auditSummary(_ results: [SimulationResult]) -> String {
        results.filter { !$0.auditEntries.isEmpty }.map { r in
            let e = r.auditEntries
            let predicted = e.reduce(0) { $0 + $1.predictedGainOpMs - $1.costOpMs } / 1000
            let point = e.reduce(0) { $0 + $1.pointGainOpMs - $1.costOpMs } / 1000
            let realized = e.reduce(0) { $0 + ($1.realizedGainOpMs ?? 0) } / 1000
            let moves = e.filter { $0.kind == .replicaMove }.count
            return String(format: "audit %@: %d decisions (%d replica moves, %d transfers), predicted net gain %.0f op-s (pessimistic bound; %.0f at the point forecast), realized %.0f op-s, %d/%d settled",
                          r.policy.rawValue as NSString, e.count, moves, e.count - moves, predicted, point, realized,
                          e.filter { $0.realizedGainOpMs != nil }.count, e.count)
        }.joined(separator: "\n")
    }

    /// The first `limit` audit entries of a result, one per line.
    public static func auditEntries(_ r: SimulationResult, limit: Int) -> String {
        r.auditEntries.prefix(limit).map { e in
            String(format: "#%d t=%.2fh shard %d %@ %@ voters %@ -> %@ leader %d -> %d, predicted %.0f op-s (point %.0f), cost %.0f op-s, confidence %.2f, realized %@ op-s%@",
                   e.id, e.time / 3600, e.shard, e.kind.rawValue as NSString, e.outcome.rawValue as NSString,
                   "\(e.fromVoters.map(\.zone))" as NSString, "\(e.toVoters.map(\.zone))" as NSString, e.fromLeader, e.toLeader,
                   e.predictedGainOpMs / 1000, e.pointGainOpMs / 1000, e.costOpMs / 1000, e.confidence,
                   (e.realizedGainOpMs.map { String(format: "%.0f", $0 / 1000) } ?? "-") as NSString, (e.realizedPartial ? " (partial window)" : "") as NSString)
        }.joined(separator: "\n")
    }

    public static func ratios(_ results: [SimulationResult]) -> String {
        guard let p = results.first(where: { $0.policy == .predictive }) else { return "" }
        var out: [String] = []
        for other in results where other.policy != .predictive && other.p99Ms > 0 {
            out.append(String(format: "predictive p99 vs %@: %.1f%% lower (%.1f ms vs %.1f ms); mean %.1f%% lower (%.1f ms vs %.1f ms)", other.policy.rawValue as NSString,
                              (1 - p.p99Ms / other.p99Ms) * 100, p.p99Ms, other.p99Ms,
                              other.meanMs > 0 ? (1 - p.meanMs / other.meanMs) * 100 : 0, p.meanMs, other.meanMs))
        }
        return out.joined(separator: "\n")
    }
}
