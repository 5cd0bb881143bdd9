import Foundation

/// Ranks segments by forecast load: the k predicted hottest over the next `horizon` buckets.
///
/// The score of a segment is its forecast total over buckets 1...horizon. With several forecasters the score
/// is the geometric mean of their totals (an equal-weight blend in log space, where load is roughly
/// log-normal); with one forecaster it is that forecaster's total.
public struct HotSetRanker: Sendable {
    public struct Ranked: Sendable, Hashable {
        public var segment: Int
        /// Forecast total load over buckets 1...horizon (blended across forecasters).
        public var predictedLoad: Double
    }

    public let forecasters: [any LoadForecaster]

    /// A short stable name: the forecaster's name, or `blend(a+b+...)`.
    public var name: String {
        forecasters.count == 1 ? forecasters[0].name : "blend(" + forecasters.map(\.name).joined(separator: "+") + ")"
    }

    public init(forecaster: any LoadForecaster) { self.forecasters = [forecaster] }

    /// A blended ranker; an empty list falls back to the default hourly combination.
    public init(forecasters: [any LoadForecaster]) {
        self.forecasters = forecasters.isEmpty ? [CombinationForecaster.hourlyDefault()] : forecasters
    }

    /// The hot-set ranker chosen on NAB validation windows (see docs/prediction.md): the geometric mean of the
    /// default combination, the weekly seasonal mean (168×4) and EWMA totals.
    public static func hourlyDefault() -> HotSetRanker {
        HotSetRanker(forecasters: [CombinationForecaster.hourlyDefault(), SeasonalMeanForecaster(period: 168, seasons: 4), EWMAForecaster()])
    }

    /// The blended forecast total of one segment over buckets 1...horizon.
    public func score(history: [Double], horizon: Int) -> Double {
        if forecasters.count == 1 { return forecasters[0].totalLoad(history: history, horizon: horizon) }
        let logs = forecasters.map { log(Swift.max($0.totalLoad(history: history, horizon: horizon), 1e-9)) }
        return exp(logs.reduce(0, +) / Double(logs.count))
    }

    /// The `k` segments with the largest score over buckets 1...horizon, hottest first.
    /// Ties are broken by the smaller segment id, so the result is deterministic.
    public func hottest(_ histories: [Int: [Double]], horizon: Int, k: Int) -> [Ranked] {
        guard k > 0, horizon > 0 else { return [] }
        let scored = histories.map { Ranked(segment: $0.key, predictedLoad: score(history: $0.value, horizon: horizon)) }
        return Array(Self.rank(scored).prefix(k))
    }

    static func rank(_ xs: [Ranked]) -> [Ranked] {
        xs.sorted { $0.predictedLoad != $1.predictedLoad ? $0.predictedLoad > $1.predictedLoad : $0.segment < $1.segment }
    }
}
