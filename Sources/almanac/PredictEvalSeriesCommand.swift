import AlmanacPredict
import ArgumentParser
import Foundation

/// `almanac predict-eval series`: per-series MASE of several forecasters, their geometric means and their worst
/// ratio to seasonal naive (the robust-forecast targets of issue 13).
struct PredictEvalSeries: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "series", abstract: "Per-series MASE table (rolling origin on CSV series, holdout on M4) with geometric means.")
    @Argument(help: "CSV files (timestamp,value); each is one series, aggregated to --bucket.") var files: [String] = []
    @Option(help: "Bucket width in seconds.") var bucket: Int64 = 3600
    @Option(help: "Forecast horizon in buckets (MASE over buckets 1...h).") var horizon: Int = 6
    @Option(help: "Comma-separated forecaster names, or 'all'. The first is the reference for ratios.") var forecaster: String = "seasonal-naive-24,seasonal-naive-168,seasonal-mean,holt-winters,ar24,combination,robust"
    @Option(help: "Origin step in buckets (rolling origin over the last 30%).") var step: Int = 1
    @Option(help: "Seasonal period (buckets) for MASE.") var period: Int = 24
    @Option(help: "Keep only the first N buckets of every CSV series (short-series check); 0 keeps all.") var truncate: Int = 0
    @Option(help: "M4 train CSV (wide format): adds its series, scored once from the end of train.") var m4Train: String?
    @Option(help: "M4 test CSV (wide format).") var m4Test: String?
    @Flag(help: "Print one row per M4 series too (otherwise only their summary).") var m4PerSeries = false

    func run() throws {
        let fs = try forecasters(forecaster)
        guard !fs.isEmpty else { throw ValidationError("no forecaster") }
        var rows: [(name: String, mase: [Double?])] = []
        let t0 = Date()
        for path in files {
            let points = try SeriesFormats.parseTimestampValueCSV(readText(path))
            var y = SeriesFormats.bucketize(points, width: bucket)
            if truncate > 0 { y = Array(y.prefix(truncate)) }
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent + (truncate > 0 ? "[:\(truncate)]" : "")
            rows.append((name, fs.map { ForecastEvaluation.seriesMASE(y, forecaster: $0, horizon: horizon, step: step, period: period) }))
        }
        var m4Rows: [(name: String, mase: [Double?])] = []
        if let trp = m4Train, let tep = m4Test {
            let tr = try SeriesFormats.parseM4(readText(trp)), te = try SeriesFormats.parseM4(readText(tep))
            guard tr.count == te.count, zip(tr, te).allSatisfy({ $0.id == $1.id }) else { throw ValidationError("train and test series ids differ") }
            for (a, b) in zip(tr, te) {
                m4Rows.append(("M4 \(a.id)", fs.map { ForecastEvaluation.holdoutMASE(train: a.values, test: b.values, forecaster: $0, horizon: horizon, period: period) }))
            }
        }
        let header = "| series | " + fs.map(\.name).joined(separator: " | ") + " |"
        print(header)
        print("|---|" + fs.map { _ in "---:|" }.joined())
        func line(_ r: (name: String, mase: [Double?])) -> String {
            "| \(r.name) | " + r.mase.map { $0.map { fmt($0) } ?? "-" }.joined(separator: " | ") + " |"
        }
        for r in rows { print(line(r)) }
        if m4PerSeries { for r in m4Rows { print(line(r)) } }
        // Summaries over the series every forecaster could score.
        func summary(_ label: String, _ set: [(name: String, mase: [Double?])]) {
            let complete = set.filter { $0.mase.allSatisfy { $0 != nil } }.map { $0.mase.map { $0 ?? 0 } }
            guard !complete.isEmpty else { return }
            let gm = fs.indices.map { i in ForecastEvaluation.geometricMean(complete.map { $0[i] }) }
            print("| **\(label): geometric mean (\(complete.count) series)** | " + gm.map { "**\(fmt($0))**" }.joined(separator: " | ") + " |")
            let worst = fs.indices.map { i in complete.map { $0[i] / Swift.max(1e-12, $0[0]) }.max() ?? 0 }
            print("| \(label): worst ratio to \(fs[0].name) | " + worst.map { fmt($0, 2) }.joined(separator: " | ") + " |")
            let over = fs.indices.map { i in complete.filter { $0[i] > 1.5 * $0[0] }.count }
            print("| \(label): series > 1.5x \(fs[0].name) | " + over.map(String.init).joined(separator: " | ") + " |")
        }
        summary("CSV", rows)
        summary("M4", m4Rows)
        summary("all", rows + m4Rows)
        FileHandle.standardError.write("horizon \(horizon), step \(step), period \(period), \(fmt(Date().timeIntervalSince(t0), 1)) s\n".data(using: .utf8) ?? Data())
    }
}
