import AlmanacPlacement
import AlmanacPlacementSimulation
import ArgumentParser
import Foundation

/// `almanac placement-sim`: runs a placement scenario under several policies and prints a comparison table.
struct PlacementSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement-sim",
        abstract: "Compare static, reactive and predictive placement on a scenario in the placement simulator."
    )

    @Option(help: "Scenario JSON file (see scenarios/).") var scenario: String
    @Option(help: "Comma-separated policies: static,reactive (with replica moves),reactive-leases,predictive,shadow.") var policy: String = "static,reactive,predictive"
    @Option(help: "Seed (defaults to the scenario's).") var seed: UInt64?
    @Option(help: "Override the scenario duration in hours (warm-up is kept).") var hours: Double?
    @Option(help: "Print this many audit entries per planner run.") var audit: Int = 0

    func run() throws {
        let url = URL(fileURLWithPath: scenario)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ValidationError("cannot read scenario file \(scenario)")
        }
        var sc: Scenario
        do { sc = try Scenario.decode(data) } catch { throw ValidationError("\(error)") }
        if let h = hours { sc.durationHours = h }
        let dir = url.deletingLastPathComponent()
        let kinds = try policy.split(separator: ",").map { p -> PolicyKind in
            guard let k = PolicyKind(rawValue: p.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("unknown policy '\(p)'") }
            return k
        }
        let sim: PlacementSimulator
        do {
            sim = try PlacementSimulator(scenario: sc, seed: seed) { rel in
                let path = rel.hasPrefix("/") ? rel : dir.appendingPathComponent(rel).path
                guard let d = FileManager.default.contents(atPath: path), let s = String(data: d, encoding: .utf8) else {
                    throw ValidationError("cannot read \(path) (referenced by the scenario)")
                }
                return s
            }
        } catch let e as ValidationError { throw e } catch { throw ValidationError("\(error)") }
        let tty = isatty(STDOUT_FILENO) != 0
        func out(_ t: String) { FileHandle.standardOutput.write(Data(t.utf8)) }
        var results: [SimulationResult] = []
        for k in kinds {
            let started = Date()
            let r = try sim.run(k) { f in
                if tty { out(String(format: "\r%@ %3.0f%%", k.rawValue as NSString, f * 100)) }
            }
            if tty { out("\r\u{1B}[K") }
            print(String(format: "%@ done in %.1f s", k.rawValue, Date().timeIntervalSince(started)))
            results.append(r)
        }
        print("")
        print("scenario \(sc.name), seed \(sim.seed), \(sc.durationHours) h (first \(sc.warmupHours) h warm-up, not measured)")
        print(PlacementReport.table(results))
        print("")
        print(PlacementReport.regionTable(results))
        print("")
        print(PlacementReport.ratios(results))
        print(PlacementReport.auditSummary(results))
        if audit > 0 { for r in results where !r.auditEntries.isEmpty { print(PlacementReport.auditEntries(r, limit: audit)) } }
    }
}
