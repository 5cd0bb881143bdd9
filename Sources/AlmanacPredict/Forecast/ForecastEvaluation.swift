/// Pure evaluation drivers for load forecasters (the CLI does the file I/O).
public enum ForecastEvaluation {
    /// Accuracy at one horizon, averaged over series (and origins).
    public struct Scores: Sendable, Hashable {
        public var horizon: Int
        public var sMAPE: Double
        public var MASE: Double
        public var logMSE: Double
        public var count: Int
    }

    /// M4 protocol: one forecast of `horizon` per series from its full train part; sMAPE/MASE/logMSE over
    /// steps 1...h for each h in `horizons` (the official figure is h = 48), averaged over series.
    public static func m4(train: [[Double]], test: [[Double]], forecaster: any LoadForecaster, period: Int = 24, horizons: [Int] = [1, 6, 24, 48]) -> [Scores] {
        let H = horizons.max() ?? 0
        var acc = horizons.map { Scores(horizon: $0, sMAPE: 0, MASE: 0, logMSE: 0, count: 0) }
        for (tr, te) in zip(train, test) where te.count >= H && H > 0 {
            let f = forecaster.forecast(history: tr, horizon: H).map(\.value)
            for (i, h) in horizons.enumerated() {
                let a = Array(te.prefix(h)), p = Array(f.prefix(h))
                acc[i].sMAPE += ForecastMetrics.sMAPE(actual: a, forecast: p)
                acc[i].MASE += ForecastMetrics.MASE(actual: a, forecast: p, insample: tr, period: period) ?? 0
                acc[i].logMSE += ForecastMetrics.logMSE(actual: a, forecast: p)
                acc[i].count += 1
            }
        }
        return acc.map { s in
            let n = Double(Swift.max(1, s.count))
            return Scores(horizon: s.horizon, sMAPE: s.sMAPE / n, MASE: s.MASE / n, logMSE: s.logMSE / n, count: s.count)
        }
    }

    /// Rolling origin over the last `testFraction` of each series: at every `step`-th origin in that tail,
    /// forecast from everything before it and score the value exactly h buckets ahead (h in `horizons`).
    /// MASE uses the seasonal-naive MAE of the part before the first origin as its fixed scale.
    public static func rollingOrigin(series: [[Double]], forecaster: any LoadForecaster, horizons: [Int] = [1, 6, 24], testFraction: Double = 0.3, step: Int = 1, period: Int = 24) -> [Scores] {
        let H = horizons.max() ?? 0
        var acc = horizons.map { Scores(horizon: $0, sMAPE: 0, MASE: 0, logMSE: 0, count: 0) }
        for y in series {
            let first = Int((Double(y.count) * (1 - testFraction)).rounded())
            guard first > 0, let scale = ForecastMetrics.maseScale(insample: Array(y.prefix(first)), period: period) else { continue }
            var origin = first
            while origin + 1 <= y.count {
                let f = forecaster.forecast(history: Array(y.prefix(origin)), horizon: H).map(\.value)
                for (i, h) in horizons.enumerated() where origin + h - 1 < y.count {
                    let a = y[origin + h - 1], p = f[h - 1]
                    acc[i].sMAPE += ForecastMetrics.sMAPE(actual: [a], forecast: [p])
                    acc[i].MASE += abs(a - p) / scale
                    acc[i].logMSE += ForecastMetrics.logMSE(actual: [a], forecast: [p])
                    acc[i].count += 1
                }
                origin += Swift.max(1, step)
            }
        }
        return acc.map { s in
            let n = Double(Swift.max(1, s.count))
            return Scores(horizon: s.horizon, sMAPE: s.sMAPE / n, MASE: s.MASE / n, logMSE: s.logMSE / n, count: s.count)
        }
    }

    /// Hot-set precision@k over rolling origins in the last `testFraction` of aligned series (one per segment):
    /// at each origin, predicted top-k by forecast total over buckets 1...h (`cumulative`) or by the forecast at
    /// bucket h alone, against the actual top-k by the same measure. Returns the mean precision.
    public static func hotSetPrecision(segments: [[Double]], forecaster: any LoadForecaster, k: Int, horizon h: Int, cumulative: Bool = true, testFraction: Double = 0.3, step: Int = 1) -> (precision: Double, origins: Int) {
        guard let n = segments.map(\.count).min(), n > h, k > 0, h > 0 else { return (0, 0) }
        var origin = Int((Double(n) * (1 - testFraction)).rounded())
        var total = 0.0, count = 0
        while origin + h <= n {
            var predicted: [HotSetRanker.Ranked] = [], actual: [HotSetRanker.Ranked] = []
            for (id, y) in segments.enumerated() {
                let f = forecaster.forecast(history: Array(y.prefix(origin)), horizon: h).map(\.value)
                let fut = y[origin..<(origin + h)]
                predicted.append(.init(segment: id, predictedLoad: cumulative ? f.reduce(0, +) : f[h - 1]))
                actual.append(.init(segment: id, predictedLoad: cumulative ? fut.reduce(0, +) : y[origin + h - 1]))
            }
            total += ForecastMetrics.precisionAtK(predicted: HotSetRanker.rank(predicted).map(\.segment), actual: HotSetRanker.rank(actual).map(\.segment), k: k)
            count += 1
            origin += Swift.max(1, step)
        }
        return (count > 0 ? total / Double(count) : 0, count)
    }

    /// Hot-set precision@k of a (possibly blended) `ranker` over the same rolling origins as `hotSetPrecision`:
    /// predicted top-k by the ranker's score over buckets 1...h against the actual top-k by the actual total over
    /// the same buckets of the same (aligned) hours. Returns the mean precision and the number of origins.
    public static func hotSetPrecision(segments: [[Double]], ranker: HotSetRanker, k: Int, horizon h: Int, testFraction: Double = 0.3, step: Int = 1) -> (precision: Double, origins: Int) {
        guard let n = segments.map(\.count).min(), n > h, k > 0, h > 0 else { return (0, 0) }
        var origin = Int((Double(n) * (1 - testFraction)).rounded())
        var total = 0.0, count = 0
        while origin + h <= n {
            var histories: [Int: [Double]] = [:]
            var actual: [HotSetRanker.Ranked] = []
            for (id, y) in segments.enumerated() {
                histories[id] = Array(y.prefix(origin))
                actual.append(.init(segment: id, predictedLoad: y[origin..<(origin + h)].reduce(0, +)))
            }
            let predicted = ranker.hottest(histories, horizon: h, k: k).map(\.segment)
            total += ForecastMetrics.precisionAtK(predicted: predicted, actual: HotSetRanker.rank(actual).map(\.segment), k: k)
            count += 1
            origin += Swift.max(1, step)
        }
        return (count > 0 ? total / Double(count) : 0, count)
    }

    /// Per-origin forecast and actual totals over buckets 1...h for every segment, over the same rolling origins
    /// as `hotSetPrecision` (for inspecting or post-processing the hot set).
    public static func hotSetTotals(segments: [[Double]], forecaster: any LoadForecaster, horizon h: Int, testFraction: Double = 0.3, step: Int = 1) -> [(origin: Int, predicted: [Double], actual: [Double])] {
        guard let n = segments.map(\.count).min(), n > h, h > 0 else { return [] }
        var origin = Int((Double(n) * (1 - testFraction)).rounded())
        var out: [(origin: Int, predicted: [Double], actual: [Double])] = []
        while origin + h <= n {
            let p = segments.map { forecaster.totalLoad(history: Array($0.prefix(origin)), horizon: h) }
            let a = segments.map { $0[origin..<(origin + h)].reduce(0, +) }
            out.append((origin, p, a))
            origin += Swift.max(1, step)
        }
        return out
    }
}
