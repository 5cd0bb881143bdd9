import AlmanacPredict
import ArgumentParser
import Foundation

/// `almanac predict-eval`: replays real traces and series through the prediction library and prints metrics.
struct PredictEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict-eval",
        abstract: "Evaluate next-operation models and load forecasters on traces and time series.",
        subcommands: [PredictEvalM4.self, PredictEvalCSV.self]
    )
}

private func readText(_ path: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw ValidationError("cannot read \(path): \(error.localizedDescription)")
    }
}

private func forecasters(_ spec: String) throws -> [any LoadForecaster] {
    let names = spec == "all" ? ForecasterCatalog.names : spec.split(separator: ",").map(String.init)
    return try names.map { n in
        guard let f = ForecasterCatalog.named(n) else {
            throw ValidationError("unknown forecaster '\(n)'; known: \(ForecasterCatalog.names.joined(separator: ", ")), all")
        }
        return f
    }
}

private func fmt(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", x) }

/// M4 wide-format evaluation (official train/test split).
struct PredictEvalM4: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "m4", abstract: "Score forecasters on an M4 train/test pair (horizon 48, period 24).")
    @Option(help: "M4 train CSV (wide format).") var train: String
    @Option(help: "M4 test CSV (wide format).") var test: String
    @Option(help: "Comma-separated forecaster names, or 'all'.") var forecaster: String = "all"
    @Option(help: "Seasonal period for MASE.") var period: Int = 24

    func run() throws {
        let tr = try SeriesFormats.parseM4(readText(train)), te = try SeriesFormats.parseM4(readText(test))
        guard tr.count == te.count, zip(tr, te).allSatisfy({ $0.id == $1.id }) else {
            throw ValidationError("train and test series ids differ")
        }
        print("forecaster            h   sMAPE    MASE   logMSE  series  seconds")
        for f in try forecasters(forecaster) {
            let t0 = Date()
            let scores = ForecastEvaluation.m4(train: tr.map(\.values), test: te.map(\.values), forecaster: f, period: period)
            let dt = Date().timeIntervalSince(t0)
            for s in scores {
                print("\(f.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(format: "%3d", s.horizon)) \(fmt(s.sMAPE)) \(fmt(s.MASE)) \(fmt(s.logMSE, 4)) \(s.count) \(fmt(dt, 1))")
            }
        }
    }
}

/// `timestamp,value` CSV evaluation: rolling origin over the last 30%, plus hot-set precision@k across files.
struct PredictEvalCSV: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "csv", abstract: "Rolling-origin evaluation of timestamp,value series; hot-set precision@k across them.")
    @Argument(help: "CSV files (timestamp,value). Each file is one segment.") var files: [String]
    @Option(help: "Bucket width in seconds to aggregate to (e.g. 3600 for hourly).") var bucket: Int64 = 3600
    @Option(help: "Comma-separated forecaster names, or 'all'.") var forecaster: String = "all"
    @Option(help: "Hot-set size k.") var k: Int = 3
    @Option(help: "Hot-set horizon in buckets.") var hotHorizon: Int = 6
    @Option(help: "Origin step in buckets.") var step: Int = 1
    @Option(help: "Seasonal period (buckets) for MASE.") var period: Int = 24
    @Option(help: "Validation mode: drop this final fraction of every series first (e.g. 0.3), so tuning never sees the test part.") var dropTail: Double = 0

    func run() throws {
        guard (0..<0.9).contains(dropTail) else { throw ValidationError("drop-tail must be in [0, 0.9)") }
        guard bucket > 0, k > 0, hotHorizon > 0, step > 0 else { throw ValidationError("bucket, k, hot-horizon and step must be > 0") }
        var series: [[Double]] = []
        var starts: [Int64] = []
        for path in files {
            let pts = try SeriesFormats.parseTimestampValueCSV(readText(path))
            let b = SeriesFormats.bucketize(pts, width: bucket)
            series.append(b)
            starts.append((pts.map(\.time).min() ?? 0) / bucket + 1)
        }
        // Align segments on common buckets for the hot-set evaluation.
        let lo = starts.max() ?? 0
        let hi = zip(starts, series).map { $0 + Int64($1.count) }.min() ?? 0
        var aligned = zip(starts, series).map { s, y in Array(y[Int(lo - s)..<Int(hi - s)]) }
        if dropTail > 0 {
            series = series.map { Array($0.prefix(Int(Double($0.count) * (1 - dropTail)))) }
            aligned = aligned.map { Array($0.prefix(Int(Double($0.count) * (1 - dropTail)))) }
        }
        print("series: \(series.count), buckets: \(series.map(\.count)), aligned: \(hi - lo)")
        print("forecaster            h   sMAPE    MASE   logMSE  points  | hot-set P@\(k) h=\(hotHorizon) (sum 1..h / at h)  seconds")
        for f in try forecasters(forecaster) {
            let t0 = Date()
            let scores = ForecastEvaluation.rollingOrigin(series: series, forecaster: f, horizons: [1, 6, 24], step: step, period: period)
            let hotSum = ForecastEvaluation.hotSetPrecision(segments: aligned, forecaster: f, k: k, horizon: hotHorizon, cumulative: true, step: step)
            let hotAt = ForecastEvaluation.hotSetPrecision(segments: aligned, forecaster: f, k: k, horizon: hotHorizon, cumulative: false, step: step)
            let dt = Date().timeIntervalSince(t0)
            for s in scores {
                print("\(f.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(format: "%3d", s.horizon)) \(fmt(s.sMAPE)) \(fmt(s.MASE)) \(fmt(s.logMSE, 4)) \(s.count)  | \(fmt(hotSum.precision)) / \(fmt(hotAt.precision)) (\(hotSum.origins) origins) \(fmt(dt, 1))")
            }
        }
    }
}
