import AlmanacPredict

/// A forecast of a segment's (or shard's) access pattern: ops/s per zone per future bucket, with intervals.
/// Index 0 is the bucket in progress (the first bucket after the newest complete one).
public struct AccessForecast: Sendable, Hashable {
    public var bucketSeconds: Double
    /// Start time (seconds) of bucket index 0.
    public var startTime: Double
    /// `value[t][z]`, `lower[t][z]`, `upper[t][z]` in ops/s.
    public var value: [[Double]]
    public var lower: [[Double]]
    public var upper: [[Double]]
    /// Share of writes in the recent history (for follower apply load).
    public var writeFraction: Double

    public var horizon: Int { value.count }

    public func total(_ t: Int) -> Double { value[t].reduce(0, +) }

    /// This forecast from bucket `count` on (the first `count` buckets dropped); unchanged when it
    /// has no bucket beyond them.
    public func dropping(_ count: Int) -> AccessForecast {
        guard count > 0, horizon > count else { return self }
        var out = self
        out.startTime += Double(count) * bucketSeconds
        out.value = Array(value.dropFirst(count))
        out.lower = Array(lower.dropFirst(count))
        out.upper = Array(upper.dropFirst(count))
        return out
    }

    /// This forecast with each interval widened to cover `other`'s interval too (same shape required).
    public func widened(by other: AccessForecast) -> AccessForecast {
        guard other.horizon == horizon, other.value.first?.count == value.first?.count else { return self }
        var out = self
        for t in 0..<horizon {
            for z in 0..<value[t].count {
                out.lower[t][z] = Swift.min(lower[t][z], other.lower[t][z])
                out.upper[t][z] = Swift.max(upper[t][z], other.upper[t][z])
            }
        }
        return out
    }

    /// Builds a forecast from per-zone bucket-count histories with a `LoadForecaster`.
    public static func make(histories: [[Double]], writeFraction: Double, forecaster: any LoadForecaster,
                            horizon: Int, bucketSeconds: Double, startTime: Double) -> AccessForecast {
        let zones = histories.count
        var value = Array(repeating: Array(repeating: 0.0, count: zones), count: horizon)
        var lower = value, upper = value
        for z in 0..<zones {
            let h = histories[z]
            guard h.contains(where: { $0 > 0 }) else { continue }
            let points = forecaster.forecast(history: h, horizon: horizon)
            for t in 0..<Swift.min(horizon, points.count) {
                let p = points[t]
                let v = Swift.max(0, p.value.isFinite ? p.value : 0)
                value[t][z] = v / bucketSeconds
                lower[t][z] = Swift.max(0, Swift.min(v, p.lower.isFinite ? p.lower : 0)) / bucketSeconds
                upper[t][z] = Swift.max(v, p.upper.isFinite ? p.upper : v) / bucketSeconds
            }
        }
        return AccessForecast(bucketSeconds: bucketSeconds, startTime: startTime, value: value, lower: lower, upper: upper,
                              writeFraction: writeFraction)
    }
}
