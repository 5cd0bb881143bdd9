import Foundation
import Testing
@testable import AlmanacPredict

/// Segments that each repeat their own random pattern of `period` buckets (log-uniform over ~3 decades), so the
/// load over the next buckets equals the load over the same buckets one period ago: `lag<period>` predicts the
/// label exactly, while the last bucket and the recent mean are poor predictors.
private func periodicSegments(count: Int, period: Int, length: Int, seed: UInt64) -> [[Double]] {
    var rng = SplitMix(seed: seed)
    return (0..<count).map { _ in
        let pattern = (0..<period).map { _ in exp(7 * rng.nextUnit()) }
        return (0..<length).map { pattern[$0 % period] }
    }
}

/// Mean precision@k of the hot sets over origins `from...` against the actual top-k over the next `h` buckets.
private func precision(_ hotSets: [(origin: Int, hot: [Int])], segments: [[Double]], k: Int, h: Int, from: Int) -> Double {
    let scored = hotSets.filter { $0.origin >= from }
    let total = scored.reduce(0.0) { acc, s in
        let actual = segments.enumerated().map { HotSetRanker.Ranked(segment: $0.offset, predictedLoad: $0.element[s.origin..<(s.origin + h)].reduce(0, +)) }
        return acc + ForecastMetrics.precisionAtK(predicted: s.hot, actual: HotSetRanker.rank(actual).map(\.segment), k: k)
    }
    return scored.isEmpty ? 0 : total / Double(scored.count)
}

@Suite struct LearnedHotSetRankerTests {
    let features: [HotSetFeature] = [.lastBucket, .recentMean(3), .sameBucketsAgo(12)]

    @Test func ridgeLearnsWhichFeaturePredictsTheFutureTotal() throws {
        let segments = periodicSegments(count: 7, period: 12, length: 240, seed: 11)
        let ranker = try LearnedHotSetRanker(features: features, horizon: 3, model: .ridge(forgetting: 1, ridge: 1e-3))
        // From origin 12 on, every feature is defined (no short-history fallback), so the relation is exact.
        let run = ForecastEvaluation.learnedHotSets(segments: segments, learned: ranker, k: 2, from: 12, through: 240)
        // The untrained ranker (first feature = last bucket) is poor, so this is not a free pass.
        let naive = try LearnedHotSetRanker(features: [.lastBucket], horizon: 3, model: .ridge(forgetting: 1, ridge: 1e-3))
        let naiveRun = ForecastEvaluation.learnedHotSets(segments: segments, learned: naive, k: 2, from: 12, through: 240)
        #expect(precision(naiveRun.hotSets, segments: segments, k: 2, h: 3, from: 60) < 0.8)
        #expect(precision(run.hotSets, segments: segments, k: 2, h: 3, from: 60) == 1)
        #expect(run.ranker.realisedOrigins == 237 - 3 - 12 + 1)
    }

    @Test func pairwiseLearnsTheSameRanking() throws {
        let segments = periodicSegments(count: 5, period: 12, length: 300, seed: 5)
        let ranker = try LearnedHotSetRanker(features: features, horizon: 3, model: .pairwise(learningRate: 0.05, l2: 0))
        let run = ForecastEvaluation.learnedHotSets(segments: segments, learned: ranker, k: 2, from: 12, through: 300)
        #expect(precision(run.hotSets, segments: segments, k: 2, h: 3, from: 150) >= 0.95)
    }

    @Test func boundaryPairsAreOnlyThoseStraddlingTheTopK() throws {
        var all = try PairwiseLogisticRanker(dimension: 1, learningRate: 0.1)
        var boundary = all
        let xs: [[Double]] = [[1], [5], [2], [4], [3]], ys: [Double] = [1, 5, 2, 4, 3]
        try all.learn(features: xs, targets: ys)
        try boundary.learn(features: xs, targets: ys, boundaryK: 2)
        #expect(all.pairs == 10)
        #expect(boundary.pairs == 6)
        #expect(boundary.weights[0] > 0 && all.weights[0] > 0)
        let segments = periodicSegments(count: 6, period: 12, length: 600, seed: 8)
        let ranker = try LearnedHotSetRanker(features: features, horizon: 3, model: .pairwise(learningRate: 0.05, l2: 0, boundaryK: 2))
        let run = ForecastEvaluation.learnedHotSets(segments: segments, learned: ranker, k: 2, from: 12, through: 600)
        #expect(precision(run.hotSets, segments: segments, k: 2, h: 3, from: 300) >= 0.95)
    }

    @Test func labelsAreLearnedOnlyOnceAllTheirBucketsAreObserved() throws {
        let h = 4
        var ranker = try LearnedHotSetRanker(features: features, horizon: h, model: .ridge(forgetting: 0.99, ridge: 1))
        let segments = periodicSegments(count: 3, period: 12, length: 100, seed: 3)
        let t0 = 10
        for t in t0..<90 {
            var histories: [Int: [Double]] = [:]
            for (id, y) in segments.enumerated() { histories[id] = Array(y.prefix(t)) }
            _ = ranker.hottest(histories, k: 1, newBuckets: t == t0 ? 0 : 1)
            // Origin o is complete once bucket o + h - 1 is observed, i.e. at the call for origin o + h.
            #expect(ranker.realisedOrigins == Swift.max(0, t - h - t0 + 1))
            #expect(ranker.pendingOrigins <= h + 1)
        }
    }

    @Test func anAdversarialFutureCannotChangeEarlierRankings() throws {
        // Same past; from bucket 150 on, the patterns are handed to other segments in reverse order, so every
        // label after 150 - h contradicts what was learned before. Rankings up to origin 150 must not change,
        // and the run over the full series must match a run over series cut at 150 (no future at all).
        let past = periodicSegments(count: 6, period: 12, length: 300, seed: 21)
        let adversarial = past.indices.map { i in Array(past[i].prefix(150)) + Array(past[past.count - 1 - i].suffix(150)) }
        for model in [LearnedHotSetRanker.Model.ridge(forgetting: 0.98, ridge: 0.1), .pairwise(learningRate: 0.05, l2: 0)] {
            let ranker = try LearnedHotSetRanker(features: features, horizon: 6, model: model)
            let a = ForecastEvaluation.learnedHotSets(segments: past, learned: ranker, k: 3, from: 1, through: 294).hotSets
            let b = ForecastEvaluation.learnedHotSets(segments: adversarial, learned: ranker, k: 3, from: 1, through: 294).hotSets
            let cut = ForecastEvaluation.learnedHotSets(segments: adversarial.map { Array($0.prefix(150)) }, learned: ranker, k: 3, from: 1, through: 294).hotSets
            #expect(cut.last?.origin == 144)
            #expect(a.prefix(150).map(\.hot) == b.prefix(150).map(\.hot))
            #expect(cut.map(\.hot) == Array(b.prefix(cut.count)).map(\.hot))
            // After the switch the rankings do differ (the test data is really adversarial).
            #expect(a.suffix(100).map(\.hot) != b.suffix(100).map(\.hot))
        }
    }

    @Test func segmentsMayComeAndGo() throws {
        var ranker = try LearnedHotSetRanker(features: features, horizon: 2, model: .ridge(forgetting: 1, ridge: 1))
        let y = periodicSegments(count: 4, period: 12, length: 60, seed: 9)
        for t in 20..<50 {
            var histories: [Int: [Double]] = [:]
            for (id, s) in y.enumerated() where id != 3 || t < 30 { histories[id] = Array(s.prefix(t)) }
            let hot = ranker.hottest(histories, k: 3)
            #expect(hot.count == 3)
            #expect(t < 30 || !hot.contains { $0.segment == 3 })
        }
        #expect(ranker.realisedOrigins > 0)
    }

    @Test func badConfigurationsAreTypedErrors() {
        #expect(throws: LearnedHotSetRanker.Failure.noFeatures) { try LearnedHotSetRanker(features: [], horizon: 6, model: .ridge(forgetting: 1, ridge: 1)) }
        #expect(throws: LearnedHotSetRanker.Failure.badHorizon(0)) { try LearnedHotSetRanker(features: [.lastBucket], horizon: 0, model: .ridge(forgetting: 1, ridge: 1)) }
        #expect(throws: LearnedHotSetRanker.Failure.self) { try LearnedHotSetRanker(features: [.lastBucket], horizon: 6, model: .ridge(forgetting: 1.5, ridge: 1)) }
        #expect(throws: LearnedHotSetRanker.Failure.self) { try LearnedHotSetRanker(features: [.lastBucket], horizon: 6, model: .pairwise(learningRate: 0, l2: 0)) }
        #expect(throws: LearnedHotSetRanker.Failure.badModel("boundary k must be >= 1, got 0")) { try LearnedHotSetRanker(features: [.lastBucket], horizon: 6, model: .pairwise(learningRate: 0.1, l2: 0, boundaryK: 0)) }
        #expect(throws: OnlineRidgeRegression.Failure.dimensionMismatch(expected: 2, got: 3)) {
            var r = try OnlineRidgeRegression(dimension: 2)
            try r.learn([1, 2, 3], target: 1)
        }
    }

    @Test func onlineRidgeRecoversCoefficientsAndForgets() throws {
        var r = try OnlineRidgeRegression(dimension: 2, forgetting: 1, ridge: 1e-6)
        var rng = SplitMix(seed: 1)
        for _ in 0..<200 {
            let x = [rng.nextUnit(), rng.nextUnit()]
            try r.learn(x, target: 3 * x[0] - 2 * x[1] + 0.5)
        }
        r.refit()
        #expect(abs(r.coefficients[0] - 3) < 1e-4 && abs(r.coefficients[1] + 2) < 1e-4 && abs(r.coefficients[2] - 0.5) < 1e-4)
        // With forgetting, a changed relation takes over; without, the old one dominates.
        var forgetful = try OnlineRidgeRegression(dimension: 1, forgetting: 0.9, ridge: 1e-6)
        var stubborn = try OnlineRidgeRegression(dimension: 1, forgetting: 1, ridge: 1e-6)
        for i in 0..<400 {
            let x = [rng.nextUnit()]
            let y = i < 300 ? x[0] : -x[0]
            forgetful.decay(); stubborn.decay()
            try forgetful.learn(x, target: y); try stubborn.learn(x, target: y)
        }
        forgetful.refit(); stubborn.refit()
        #expect(abs(forgetful.coefficients[0] + 1) < 0.01)
        #expect(stubborn.coefficients[0] > 0)
    }

    @Test func featuresUseOnlyTheHistoryAndFallBack() {
        let y: [Double] = (0..<30).map(Double.init)
        #expect(HotSetFeature.lastBucket.value(history: y, horizon: 3) == log1p(29))
        #expect(HotSetFeature.recentMean(4).value(history: y, horizon: 3) == log1p(27.5))
        // lag 24, horizon 3: buckets 6, 7, 8.
        #expect(HotSetFeature.sameBucketsAgo(24).value(history: y, horizon: 3) == log1p(7))
        // lag 2 < horizon 3: cut at the origin (buckets 28, 29).
        #expect(HotSetFeature.sameBucketsAgo(2).value(history: y, horizon: 3) == log1p(28.5))
        // History shorter than the lag: the mean of the last `horizon` buckets.
        #expect(HotSetFeature.sameBucketsAgo(168).value(history: y, horizon: 3) == log1p(28))
        #expect(HotSetFeature.lastBucket.value(history: [], horizon: 3) == 0)
        #expect(HotSetFeature.named("mean24")?.name == "mean24")
        #expect(HotSetFeature.named("lag168")?.name == "lag168")
        #expect(HotSetFeature.named("seasonal-mean")?.name == "seasonal-mean")
        #expect(HotSetFeature.named("mean0") == nil && HotSetFeature.named("bogus") == nil)
    }
}
