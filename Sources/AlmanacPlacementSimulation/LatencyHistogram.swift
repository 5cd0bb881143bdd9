#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AlmanacPlacement

/// A weighted latency histogram with 1% log buckets from 0.01 ms (weights are fractional op counts,
/// which integer HDR histograms do not take).
public struct LatencyHistogram: Sendable, Hashable {
    private static let base = 0.01
    private static let growth = log(1.01)
    private var weights: [Double] = []
    public private(set) var totalWeight = 0.0
    public private(set) var weightedSum = 0.0

    public init() {}

    public mutating func record(_ ms: Double, weight: Double) {
        guard weight > 0, ms.isFinite else { return }
        let i = ms <= Self.base ? 0 : Int(log(ms / Self.base) / Self.growth) + 1
        if i >= weights.count { weights += Array(repeating: 0, count: i - weights.count + 1) }
        weights[i] += weight
        totalWeight += weight
        weightedSum += ms * weight
    }

    /// Latency at quantile q in [0, 1] (upper edge of the bucket), 0 when empty.
    public func quantile(_ q: Double) -> Double {
        guard totalWeight > 0 else { return 0 }
        let target = q * totalWeight
        var acc = 0.0
        for (i, w) in weights.enumerated() {
            acc += w
            if acc >= target { return i == 0 ? Self.base : Self.base * exp(Double(i) * Self.growth) }
        }
        return Self.base * exp(Double(weights.count) * Self.growth)
    }

    public var mean: Double { totalWeight > 0 ? weightedSum / totalWeight : 0 }
}
