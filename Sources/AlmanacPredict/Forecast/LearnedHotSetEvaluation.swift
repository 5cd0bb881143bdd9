extension ForecastEvaluation {
    /// Runs a learned ranker prequentially over aligned segments: one call per bucket from origin `from` (at least 1)
    /// through `through` (at most the last origin whose horizon is observed), each given only the histories before
    /// the origin. Returns the predicted top-k at every origin and the ranker as trained at the end.
    public static func learnedHotSets(segments: [[Double]], learned: LearnedHotSetRanker, k: Int, from: Int, through: Int) -> (hotSets: [(origin: Int, hot: [Int])], ranker: LearnedHotSetRanker) {
        guard let n = segments.map(\.count).min() else { return ([], learned) }
        var ranker = learned
        var out: [(origin: Int, hot: [Int])] = []
        let start = Swift.max(1, from)
        var origin = start
        while origin <= Swift.min(through, n - learned.horizon) {
            var histories: [Int: [Double]] = [:]
            for (id, y) in segments.enumerated() { histories[id] = Array(y.prefix(origin)) }
            out.append((origin, ranker.hottest(histories, k: k, newBuckets: origin == start ? 0 : 1).map(\.segment)))
            origin += 1
        }
        return (out, ranker)
    }

    /// Prequential hot-set precision@k of a learned ranker over the same rolling origins as `hotSetPrecision`.
    ///
    /// The ranker is advanced one bucket at a time from origin `min(trainFrom, first scored origin)`, so it trains
    /// on every origin whose `horizon` buckets are realised before the current one. Origins from the first scored
    /// one (the last `testFraction` of the aligned length) on, every `step`-th, are scored against the actual
    /// top-k by total load over the ranker's horizon. Returns the mean precision, the scored origins and the
    /// ranker as trained at the end.
    public static func hotSetPrecision(segments: [[Double]], learned: LearnedHotSetRanker, k: Int, testFraction: Double = 0.3, trainFrom: Int = 168, step: Int = 1) -> (precision: Double, origins: Int, ranker: LearnedHotSetRanker) {
        let h = learned.horizon
        guard let n = segments.map(\.count).min(), n > h, k > 0 else { return (0, 0, learned) }
        let first = Int((Double(n) * (1 - testFraction)).rounded())
        let run = learnedHotSets(segments: segments, learned: learned, k: k, from: Swift.min(trainFrom, first), through: n - h)
        var total = 0.0, count = 0
        for (origin, predicted) in run.hotSets where origin >= first && (origin - first) % Swift.max(1, step) == 0 {
            let actual = segments.enumerated().map { id, y in HotSetRanker.Ranked(segment: id, predictedLoad: y[origin..<(origin + h)].reduce(0, +)) }
            total += ForecastMetrics.precisionAtK(predicted: predicted, actual: HotSetRanker.rank(actual).map(\.segment), k: k)
            count += 1
        }
        return (count > 0 ? total / Double(count) : 0, count, run.ranker)
    }
}
