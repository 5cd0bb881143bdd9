import Foundation

/// Forecast accuracy metrics, with the official M4 definitions.
public enum ForecastMetrics {
    /// sMAPE in percent: mean over the horizon of 200*|y-f|/(|y|+|f|). Terms with y = f = 0 count as 0.
    public static func sMAPE(actual: [Double], forecast: [Double]) -> Double {
        let n = Swift.min(actual.count, forecast.count)
        guard n > 0 else { return 0 }
        var s = 0.0
        for i in 0..<n {
            let d = abs(actual[i]) + abs(forecast[i])
            if d > 0 { s += 200 * abs(actual[i] - forecast[i]) / d }
        }
        return s / Double(n)
    }

    /// In-sample MAE of the seasonal naive (lag m) on `insample`; the MASE scale. Nil if undefined.
    public static func maseScale(insample: [Double], period m: Int) -> Double? {
        let p = Swift.max(1, m)
        guard insample.count > p else { return nil }
        var s = 0.0
        for t in p..<insample.count { s += abs(insample[t] - insample[t - p]) }
        let scale = s / Double(insample.count - p)
        return scale > 0 ? scale : nil
    }

    /// MASE: mean |y-f| over the horizon divided by the in-sample seasonal-naive MAE.
    public static func MASE(actual: [Double], forecast: [Double], insample: [Double], period: Int) -> Double? {
        guard let scale = maseScale(insample: insample, period: period) else { return nil }
        let n = Swift.min(actual.count, forecast.count)
        guard n > 0 else { return nil }
        var s = 0.0
        for i in 0..<n { s += abs(actual[i] - forecast[i]) }
        return s / Double(n) / scale
    }

    /// Mean squared error in log1p space.
    public static func logMSE(actual: [Double], forecast: [Double]) -> Double {
        let n = Swift.min(actual.count, forecast.count)
        guard n > 0 else { return 0 }
        var s = 0.0
        for i in 0..<n {
            let d = ForecastMath.toLog(actual[i]) - ForecastMath.toLog(forecast[i])
            s += d * d
        }
        return s / Double(n)
    }

    /// |predicted ∩ actual| / k for two top-k sets.
    public static func precisionAtK(predicted: [Int], actual: [Int], k: Int) -> Double {
        guard k > 0 else { return 0 }
        return Double(Set(predicted.prefix(k)).intersection(actual.prefix(k)).count) / Double(k)
    }
}
