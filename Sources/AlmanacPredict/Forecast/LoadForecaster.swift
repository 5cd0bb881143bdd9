/// One forecast value with its interval.
public struct ForecastPoint: Sendable, Hashable {
    /// Steps ahead of the last observed bucket (1 = next bucket).
    public var horizon: Int
    public var value: Double
    public var lower: Double
    public var upper: Double

    public init(horizon: Int, value: Double, lower: Double, upper: Double) {
        self.horizon = horizon
        self.value = value
        self.lower = lower
        self.upper = upper
    }
}

/// A pure load forecaster: given a series of equally spaced bucket counts (oldest first),
/// forecast the next `horizon` buckets with intervals.
public protocol LoadForecaster: Sendable {
    /// A short stable name, e.g. "seasonal-naive".
    var name: String { get }
    /// Forecasts buckets 1...horizon after the end of `history`.
    func forecast(history: [Double], horizon: Int) -> [ForecastPoint]
}

extension LoadForecaster {
    /// Total forecast load over buckets 1...horizon (the quantity hot-set ranking uses).
    public func totalLoad(history: [Double], horizon: Int) -> Double {
        forecast(history: history, horizon: horizon).reduce(0) { $0 + $1.value }
    }
}
