/// Seasonal naive: bucket t+h repeats bucket t+h-period*k of the last full season.
/// With `period` 1 it is the plain naive forecaster. Falls back to the last value
/// when the history is shorter than one period.
public struct SeasonalNaiveForecaster: LoadForecaster {
    public let period: Int
    public var name: String { period == 1 ? "naive" : "seasonal-naive-\(period)" }

    /// - Parameter period: season length in buckets (24 = daily, 168 = weekly for hourly buckets). Values < 1 become 1.
    public init(period: Int) { self.period = Swift.max(1, period) }

    /// Daily season for hourly buckets.
    public static let daily = SeasonalNaiveForecaster(period: 24)
    /// Weekly season for hourly buckets.
    public static let weekly = SeasonalNaiveForecaster(period: 168)

    public func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        let y = ForecastMath.sanitize(history)
        guard horizon > 0 else { return [] }
        guard let last = y.last else {
            return (1...horizon).map { ForecastPoint(horizon: $0, value: 0, lower: 0, upper: 0) }
        }
        let m = y.count >= period ? period : 1
        let n = y.count
        // Residual scale of the seasonal-naive one-season-ahead errors.
        var residuals: [Double] = []
        if n > m { residuals.reserveCapacity(n - m); for t in m..<n { residuals.append(y[t] - y[t - m]) } }
        let sigma = ForecastMath.rms(residuals)
        return (1...horizon).map { h in
            let v = m == 1 ? last : y[n - m + (h - 1) % m]
            let seasons = Double((h - 1) / m + 1)
            let w = ForecastMath.z95 * sigma * seasons.squareRoot()
            return ForecastPoint(horizon: h, value: v, lower: Swift.max(0, v - w), upper: v + w)
        }
    }
}
