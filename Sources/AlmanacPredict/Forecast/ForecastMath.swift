import Foundation

/// Small numeric helpers shared by the forecasters. Internal, pure.
enum ForecastMath {
    /// z for a two-sided ~95% normal interval.
    static let z95 = 1.96

    static func mean(_ xs: ArraySlice<Double>) -> Double {
        xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
    }

    static func mean(_ xs: [Double]) -> Double { mean(xs[...]) }

    /// Root mean square of `xs` (0 when empty).
    static func rms(_ xs: [Double]) -> Double {
        xs.isEmpty ? 0 : (xs.reduce(0) { $0 + $1 * $1 } / Double(xs.count)).squareRoot()
    }

    /// Median of `xs` (0 when empty). Copies and sorts; fine for the small member counts used here.
    static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        let n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    /// log1p of a load, clamping negatives (bad input) to 0.
    static func toLog(_ x: Double) -> Double { Foundation.log1p(Swift.max(0, x)) }

    /// Inverse of `toLog`, clamped at 0.
    static func fromLog(_ x: Double) -> Double { Swift.max(0, Foundation.expm1(x)) }

    /// Replaces NaN/inf by 0 and negatives by 0: loads are non-negative counts.
    static func sanitize(_ history: [Double]) -> [Double] {
        history.map { $0.isFinite ? Swift.max(0, $0) : 0 }
    }

    /// Builds points from log-space values and a one-step log-space residual scale, widening with sqrt(h).
    static func pointsFromLog(_ logValues: [Double], sigma: Double) -> [ForecastPoint] {
        logValues.enumerated().map { i, v in
            let h = i + 1
            let w = z95 * sigma * Double(h).squareRoot()
            return ForecastPoint(horizon: h, value: fromLog(v), lower: fromLog(v - w), upper: fromLog(v + w))
        }
    }

    /// Builds points from linear-space values and a one-step residual scale, widening with sqrt(h).
    static func points(_ values: [Double], sigma: Double) -> [ForecastPoint] {
        values.enumerated().map { i, v in
            let h = i + 1
            let w = z95 * sigma * Double(h).squareRoot()
            let value = Swift.max(0, v)
            return ForecastPoint(horizon: h, value: value, lower: Swift.max(0, v - w), upper: Swift.max(0, v + w))
        }
    }
}
