import Foundation

extension ForecastEvaluation {
    /// MASE of `forecaster` on one series: rolling origin over the last `testFraction`, every `step`-th origin;
    /// each origin forecasts `horizon` buckets from everything before it and scores the mean absolute error over
    /// buckets 1...horizon. The scale is the seasonal-naive (lag `period`) MAE of the part before the first origin.
    /// Nil when the series is too short or flat for a scale.
    public static func seriesMASE(_ y: [Double], forecaster: any LoadForecaster, horizon: Int, testFraction: Double = 0.3,
                                  step: Int = 1, period: Int = 24) -> Double? {
        guard horizon > 0 else { return nil }
        let first = Int((Double(y.count) * (1 - testFraction)).rounded())
        guard first > 0, first + horizon <= y.count,
              let scale = ForecastMetrics.maseScale(insample: Array(y.prefix(first)), period: period) else { return nil }
        var total = 0.0, count = 0
        var origin = first
        while origin + horizon <= y.count {
            let f = forecaster.forecast(history: Array(y.prefix(origin)), horizon: horizon)
            var e = 0.0
            for i in 0..<horizon { e += abs(y[origin + i] - (i < f.count ? f[i].value : 0)) }
            total += e / Double(horizon) / scale
            count += 1
            origin += Swift.max(1, step)
        }
        return count > 0 ? total / Double(count) : nil
    }

    /// MASE of one forecast of `horizon` buckets from the whole of `train`, scored on the start of `test`
    /// (the M4 protocol, at a shorter horizon when asked).
    public static func holdoutMASE(train: [Double], test: [Double], forecaster: any LoadForecaster, horizon: Int, period: Int = 24) -> Double? {
        guard horizon > 0, test.count >= horizon else { return nil }
        let f = forecaster.forecast(history: train, horizon: horizon).map(\.value)
        return ForecastMetrics.MASE(actual: Array(test.prefix(horizon)), forecast: f, insample: train, period: period)
    }

    /// Geometric mean of positive values (values <= 0 are floored at 1e-9); 0 for an empty list.
    public static func geometricMean(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        return exp(xs.reduce(0) { $0 + log(Swift.max(1e-9, $1)) } / Double(xs.count))
    }
}
