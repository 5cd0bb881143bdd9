import Foundation

/// One per-segment input of `LearnedHotSetRanker`, computed only from the segment's history before the origin.
///
/// Every feature is on the same scale: log1p of a per-bucket load (a mean over some buckets, or a forecaster's
/// total over buckets 1...horizon divided by the horizon). Features fall back gracefully on short histories, so
/// they work for any series length, horizon and number of segments.
public struct HotSetFeature: Sendable, CustomStringConvertible {
    /// A short stable name, e.g. `last`, `mean24`, `lag168`, `seasonal-mean`; `named(_:)` parses it back.
    public let name: String
    private let compute: @Sendable (_ history: [Double], _ horizon: Int) -> Double

    public var description: String { name }

    public init(name: String, compute: @escaping @Sendable (_ history: [Double], _ horizon: Int) -> Double) {
        self.name = name
        self.compute = compute
    }

    /// The feature's value for a segment whose observed history (oldest first) ends just before the origin.
    /// Non-finite results (bad input) become 0.
    public func value(history: [Double], horizon: Int) -> Double {
        let v = compute(history, Swift.max(1, horizon))
        return v.isFinite ? v : 0
    }

    /// log1p of the last bucket (0 for an empty history).
    public static let lastBucket = HotSetFeature(name: "last") { y, _ in
        ForecastMath.toLog(y.last ?? 0)
    }

    /// log1p of the mean of the last `buckets` buckets (fewer when the history is shorter).
    public static func recentMean(_ buckets: Int) -> HotSetFeature {
        let n = Swift.max(1, buckets)
        return HotSetFeature(name: "mean\(n)") { y, _ in Self.logMean(y, from: y.count - n, to: y.count) }
    }

    /// log1p of the mean of the `horizon` buckets that followed the same point `lag` buckets ago, i.e. the
    /// buckets `t-lag ..< t-lag+horizon` (cut at `t`). With `lag` = 24 on hourly data: the same hours yesterday.
    /// Falls back to the mean of the last `horizon` buckets when the history is shorter than `lag`.
    public static func sameBucketsAgo(_ lag: Int) -> HotSetFeature {
        let l = Swift.max(1, lag)
        return HotSetFeature(name: "lag\(l)") { y, h in
            let t = y.count
            guard t >= l else { return Self.logMean(y, from: t - h, to: t) }
            return Self.logMean(y, from: t - l, to: Swift.min(t, t - l + h))
        }
    }

    /// log1p of a forecaster's mean forecast per bucket over buckets 1...horizon.
    public static func forecast(_ forecaster: any LoadForecaster, name: String? = nil) -> HotSetFeature {
        HotSetFeature(name: name ?? forecaster.name) { y, h in
            ForecastMath.toLog(forecaster.totalLoad(history: y, horizon: h) / Double(h))
        }
    }

    /// Parses a feature name: `last`, `mean<N>`, `lag<N>` (N >= 1), or a `ForecasterCatalog` name (its forecast).
    public static func named(_ name: String) -> HotSetFeature? {
        if name == "last" { return .lastBucket }
        if name.hasPrefix("mean"), let n = Int(name.dropFirst(4)), n >= 1 { return .recentMean(n) }
        if name.hasPrefix("lag"), let n = Int(name.dropFirst(3)), n >= 1 { return .sameBucketsAgo(n) }
        if let f = ForecasterCatalog.named(name) { return .forecast(f, name: name) }
        return nil
    }

    /// log1p of the mean of `y[from..<to]`, clamped to the history; the last bucket when the range is empty.
    static func logMean(_ y: [Double], from: Int, to: Int) -> Double {
        let a = Swift.max(0, from), b = Swift.min(y.count, to)
        guard b > a else { return ForecastMath.toLog(y.last ?? 0) }
        var s = 0.0
        for i in a..<b where y[i].isFinite { s += Swift.max(0, y[i]) }
        return ForecastMath.toLog(s / Double(b - a))
    }
}
