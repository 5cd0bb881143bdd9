/// Level-adjusted seasonal mean on log1p(load): the forecast for bucket t+h is the mean (in log space) of the
/// same phase over the last `seasons` periods, shifted by the current level offset (how much the last
/// `levelWindow` buckets differ from their own seasonal means), the offset decaying by `levelDamping` per step.
/// A smoother "seasonal naive": averaging several past seasons cuts the noise of a single lag.
public struct SeasonalMeanForecaster: LoadForecaster {
    public let period: Int
    public let seasons: Int
    public let levelWindow: Int
    public let levelDamping: Double
    public var name: String { "seasonal-mean-\(period)x\(seasons)" }

    public init(period: Int = 168, seasons: Int = 4, levelWindow: Int = 24, levelDamping: Double = 0.99) {
        self.period = Swift.max(1, period)
        self.seasons = Swift.max(1, seasons)
        self.levelWindow = Swift.max(1, levelWindow)
        self.levelDamping = Swift.min(1, Swift.max(0, levelDamping))
    }

    public func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        guard horizon > 0 else { return [] }
        let y = ForecastMath.sanitize(history)
        let n = y.count
        // Fall back to the daily period when the history is too short for two of the configured seasons.
        let p = n >= 2 * period ? period : (n >= 48 ? 24 : 0)
        guard p > 0 else { return SeasonalNaiveForecaster(period: 1).forecast(history: y, horizon: horizon) }
        let x = y.map(ForecastMath.toLog)
        /// Mean of x at index i - p*k for k = 1...seasons (those that exist), for i possibly >= n (future).
        func seasonalMean(_ i: Int) -> Double? {
            var s = 0.0, c = 0
            var k = 1
            while k <= seasons {
                let j = i - p * k
                if j < 0 { break }
                if j < n { s += x[j]; c += 1 }
                k += 1
            }
            return c > 0 ? s / Double(c) : nil
        }
        var offset = 0.0, oc = 0
        for i in Swift.max(0, n - levelWindow)..<n {
            if let m = seasonalMean(i) { offset += x[i] - m; oc += 1 }
        }
        offset = oc > 0 ? offset / Double(oc) : 0
        // Residual scale: one-season-ahead errors of the same rule over the last window.
        var residuals: [Double] = []
        for i in Swift.max(p, n - 4 * p)..<n { if let m = seasonalMean(i) { residuals.append(x[i] - m) } }
        let sigma = ForecastMath.rms(residuals)
        var out: [Double] = []
        var damp = 1.0
        for h in 1...horizon {
            damp *= levelDamping
            let i = n + h - 1
            // Phases further ahead than one period use the nearest past season that exists.
            let base = seasonalMean(i) ?? x[n - 1]
            out.append(base + offset * damp)
        }
        return out.enumerated().map { i, v in
            let w = ForecastMath.z95 * sigma
            return ForecastPoint(horizon: i + 1, value: ForecastMath.fromLog(v), lower: ForecastMath.fromLog(v - w), upper: ForecastMath.fromLog(v + w))
        }
    }
}
