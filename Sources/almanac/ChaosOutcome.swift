import Foundation

/// The result of a chaos run: what was injected, what was checked, what went wrong, recovery times.
struct ChaosOutcome: Codable, Sendable {
    struct Recovery: Codable, Sendable {
        var kind: ChaosFaultKind
        var leader: Bool
        /// From injection to the first acknowledged write invoked after it; nil: none before the end.
        var microseconds: UInt64?
    }

    var seed: UInt64
    var faults: [ChaosFault]
    var recoveries: [Recovery]
    var operations: Int
    var registerOperations: Int
    var acknowledgedWrites: Int
    var unknownOutcomes: Int
    var namesChecked: Int
    var linearizability: String
    var convergence: String
    var violations: [String]

    /// Nearest-rank percentile in milliseconds.
    static func percentile(_ values: [UInt64], _ p: Double) -> String {
        guard !values.isEmpty else { return "-" }
        let sorted = values.sorted()
        let rank = max(0, min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))
        return String(format: "%.0f", Double(sorted[rank]) / 1000)
    }

    var markdown: String {
        var lines = [
            "| fault | injected | on the leader | writes resume p50 (ms) | p99 (ms) | max (ms) | leader faults p99 (ms) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        func row(_ name: String, _ subset: [Recovery]) {
            let times = subset.compactMap(\.microseconds)
            let leaderTimes = subset.filter(\.leader).compactMap(\.microseconds)
            lines.append("| \(name) | \(subset.count) | \(subset.filter(\.leader).count) | \(Self.percentile(times, 0.5)) | "
                         + "\(Self.percentile(times, 0.99)) | \(Self.percentile(times, 1)) | \(Self.percentile(leaderTimes, 0.99)) |")
        }
        for kind in ChaosFaultKind.allCases {
            let subset = recoveries.filter { $0.kind == kind }
            if !subset.isEmpty { row(kind.rawValue, subset) }
        }
        row("all", recoveries)
        let unrecovered = recoveries.filter { $0.microseconds == nil }.count
        lines.append("")
        lines.append("seed \(seed); \(faults.count) faults; \(operations) operations checked (\(registerOperations) register reads/writes "
                     + "for linearizability, \(namesChecked) created/removed names for loss and duplication); "
                     + "\(acknowledgedWrites) acknowledged writes, \(unknownOutcomes) of unknown outcome; "
                     + "faults without a later acknowledged write: \(unrecovered)")
        lines.append("linearizability: \(linearizability); convergence: \(convergence); violations: \(violations.count)")
        for violation in violations.prefix(50) { lines.append("- VIOLATION: \(violation)") }
        return lines.joined(separator: "\n")
    }
}
