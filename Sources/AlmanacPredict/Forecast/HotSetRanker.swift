/// Ranks segments by forecast load: the k predicted hottest over the next `horizon` buckets.
public struct HotSetRanker: Sendable {
    public struct Ranked: Sendable, Hashable {
        public var segment: Int
        /// Forecast total load over buckets 1...horizon.
        public var predictedLoad: Double
    }

    public let forecaster: any LoadForecaster

    public init(forecaster: any LoadForecaster) { self.forecaster = forecaster }

    /// The `k` segments with the largest forecast total over buckets 1...horizon, hottest first.
    /// Ties are broken by the smaller segment id, so the result is deterministic.
    public func hottest(_ histories: [Int: [Double]], horizon: Int, k: Int) -> [Ranked] {
        guard k > 0, horizon > 0 else { return [] }
        let scored = histories.map { Ranked(segment: $0.key, predictedLoad: forecaster.totalLoad(history: $0.value, horizon: horizon)) }
        return Array(Self.rank(scored).prefix(k))
    }

    static func rank(_ xs: [Ranked]) -> [Ranked] {
        xs.sorted { $0.predictedLoad != $1.predictedLoad ? $0.predictedLoad > $1.predictedLoad : $0.segment < $1.segment }
    }
}
