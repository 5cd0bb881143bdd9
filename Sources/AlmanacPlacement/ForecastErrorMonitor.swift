/// Tracks the forecast error and decides when the predictive planner must fall back to the reactive
/// policy: while the weighted absolute percentage error (WAPE) of the latest bucket, or of the bucket
/// in progress, exceeds `bound`, and until `recoveryBuckets` consecutive complete buckets are back
/// under the bound.
public struct ForecastErrorMonitor: Sendable, Hashable {
    public let bound: Double
    public let recoveryBuckets: Int
    public private(set) var lastBucketError: Double?
    public private(set) var goodStreak: Int = 0
    public private(set) var fallingBack: Bool = true

    public init(bound: Double, recoveryBuckets: Int = 2) {
        self.bound = bound
        self.recoveryBuckets = Swift.max(1, recoveryBuckets)
    }

    /// WAPE: sum |actual - forecast| / sum max(actual, forecast), 0 when both are empty.
    public static func wape(actual: [Double], forecast: [Double]) -> Double {
        var num = 0.0, den = 0.0
        for (a, f) in zip(actual, forecast) { num += abs(a - f); den += Swift.max(a, f) }
        return den > 0 ? num / den : 0
    }

    /// Records the error of one complete bucket.
    public mutating func recordBucket(error: Double) {
        lastBucketError = error
        if error > bound { goodStreak = 0; fallingBack = true } else {
            goodStreak += 1
            if goodStreak >= recoveryBuckets { fallingBack = false }
        }
    }

    /// Records the error of the bucket in progress (early detection of a spike).
    public mutating func recordPartial(error: Double) {
        if error > bound { goodStreak = 0; fallingBack = true }
    }
}
