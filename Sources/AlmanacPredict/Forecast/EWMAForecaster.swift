/// Exponentially weighted moving average (simple exponential smoothing): a flat forecast at the smoothed level.
public struct EWMAForecaster: LoadForecaster {
    /// Smoothing weight of the newest bucket, in (0, 1].
    public let alpha: Double
    public var name: String { "ewma" }

    public init(alpha: Double = 0.3) { self.alpha = Swift.min(1, Swift.max(0.0001, alpha)) }

    public func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        let y = ForecastMath.sanitize(history)
        guard horizon > 0 else { return [] }
        guard let first = y.first else { return ForecastMath.points(Array(repeating: 0, count: horizon), sigma: 0) }
        var level = first
        var sse = 0.0
        for t in 1..<Swift.max(1, y.count) where t < y.count {
            let e = y[t] - level
            sse += e * e
            level += alpha * e
        }
        let sigma = y.count > 1 ? (sse / Double(y.count - 1)).squareRoot() : 0
        return (1...horizon).map { h in
            // Variance of SES h-step error: sigma^2 * (1 + (h-1) alpha^2).
            let w = ForecastMath.z95 * sigma * (1 + Double(h - 1) * alpha * alpha).squareRoot()
            return ForecastPoint(horizon: h, value: level, lower: Swift.max(0, level - w), upper: level + w)
        }
    }
}
