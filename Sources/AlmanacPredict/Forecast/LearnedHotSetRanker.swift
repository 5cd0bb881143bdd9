import Foundation

/// A hot-set ranker learned online (prequentially) from the segments' own realised loads.
///
/// At each origin it computes `features` for every segment from that segment's history alone, scores the
/// segments with the current model and returns the top k. The label of an origin, log1p of the mean load per
/// bucket over the `horizon` buckets that follow it, only becomes known `horizon` buckets later: the ranker keeps
/// the origin's features pending, adds each newly observed bucket to them, and trains on the origin once all
/// `horizon` buckets are in. So the model used at origin t has learned exactly the origins `o <= t - horizon`,
/// and it cannot see a label before it is realised (it never sees anything but the histories it is given).
///
/// Bounded state: at most `horizon + 1` pending origins (features of every segment), plus the model
/// (O(d²) for ridge, O(d) for pairwise). Deterministic: segments are always processed in id order.
public struct LearnedHotSetRanker: Sendable {
    /// The learner behind the scores.
    public enum Model: Sendable, Hashable, CustomStringConvertible {
        /// Online ridge regression of the log label on the features (shared weights, one intercept), with
        /// exponential forgetting per origin. Ranks by the predicted load.
        case ridge(forgetting: Double, ridge: Double)
        /// Linear pairwise logistic ranking (RankNet), one SGD pass over the segment pairs of each realised origin.
        /// With `boundaryK`, only pairs straddling the actual top k are learned (the swaps that change precision@k).
        case pairwise(learningRate: Double, l2: Double, boundaryK: Int? = nil)

        public var description: String {
            switch self {
            case let .ridge(f, r): return "ridge(forgetting \(f), ridge \(r))"
            case let .pairwise(lr, l2, b): return "pairwise(lr \(lr), l2 \(l2)" + (b.map { ", top-\($0) boundary" } ?? "") + ")"
            }
        }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case noFeatures
        case badHorizon(Int)
        case badModel(String)
        public var description: String {
            switch self {
            case .noFeatures: return "learned hot-set ranker: needs at least one feature"
            case let .badHorizon(h): return "learned hot-set ranker: horizon must be >= 1, got \(h)"
            case let .badModel(s): return "learned hot-set ranker: \(s)"
            }
        }
    }

    /// An origin whose label is not fully realised yet.
    struct PendingOrigin: Sendable {
        var features: [Int: [Double]]
        var realisedSum: [Int: Double] = [:]
        var realisedBuckets = 0
    }

    public let features: [HotSetFeature]
    public let horizon: Int
    public let model: Model
    private var regression: OnlineRidgeRegression?
    private var pairwise: PairwiseLogisticRanker?
    private var pending: [PendingOrigin] = []
    /// Origins whose labels have been learned.
    public private(set) var realisedOrigins = 0
    /// Origins waiting for their labels (at most `horizon + 1`).
    public var pendingOrigins: Int { pending.count }

    /// A short stable name for reports.
    public var name: String { "learned-\(model)[\(features.map(\.name).joined(separator: ","))]" }

    public init(features: [HotSetFeature], horizon: Int, model: Model) throws(Failure) {
        guard !features.isEmpty else { throw .noFeatures }
        guard horizon >= 1 else { throw .badHorizon(horizon) }
        self.features = features
        self.horizon = horizon
        self.model = model
        switch model {
        case let .ridge(forgetting, ridge):
            do { regression = try OnlineRidgeRegression(dimension: features.count, forgetting: forgetting, ridge: ridge) } catch { throw .badModel(error.description) }
        case let .pairwise(lr, l2, boundary):
            if let boundary, boundary < 1 { throw .badModel("boundary k must be >= 1, got \(boundary)") }
            do { pairwise = try PairwiseLogisticRanker(dimension: features.count, learningRate: lr, l2: l2) } catch { throw .badModel(error.description) }
        }
    }

    /// The configuration chosen on NAB validation windows (see docs/prediction.md): pairwise logistic ranking
    /// (learning rate 0.003, l2 0.01) on the last bucket, the last-24-bucket mean, and the forecasts of the weekly
    /// seasonal mean (168×4), EWMA and the default combination.
    public static func hourlyDefault(horizon: Int) throws(Failure) -> LearnedHotSetRanker {
        try LearnedHotSetRanker(
            features: [.lastBucket, .recentMean(24), .forecast(SeasonalMeanForecaster(period: 168, seasons: 4), name: "seasonal-mean"),
                       .forecast(EWMAForecaster(), name: "ewma"), .forecast(CombinationForecaster.hourlyDefault(), name: "combination")],
            horizon: horizon, model: .pairwise(learningRate: 0.003, l2: 0.01))
    }

    /// Advances to a new origin and returns the `k` segments predicted hottest over its next `horizon` buckets.
    ///
    /// `histories` holds every segment's observed loads (oldest first) up to the origin; `newBuckets` is how many
    /// buckets were appended to each history since the previous call (its last `newBuckets` values are new).
    /// Those buckets first complete the labels of pending origins (which are then learned), then the features of
    /// this origin are recorded as pending, then the segments are scored. With `newBuckets` = 0 the origin is
    /// re-ranked without being recorded again. Before any label is realised, segments are ranked by the first
    /// feature. Ties go to the smaller segment id.
    public mutating func hottest(_ histories: [Int: [Double]], k: Int, newBuckets: Int = 1) -> [HotSetRanker.Ranked] {
        let fresh = Swift.max(0, newBuckets)
        realise(histories, newBuckets: fresh)
        let ids = histories.keys.sorted()
        var current: [Int: [Double]] = [:]
        for id in ids {
            let y = histories[id] ?? []
            current[id] = features.map { $0.value(history: y, horizon: horizon) }
        }
        if fresh > 0 || pending.isEmpty { pending.append(PendingOrigin(features: current)) }
        guard k > 0 else { return [] }
        let scored = ids.map { HotSetRanker.Ranked(segment: $0, predictedLoad: score(current[$0] ?? [])) }
        return Array(HotSetRanker.rank(scored).prefix(k))
    }

    /// The score of one feature vector: a predicted total load (ridge, and the cold-start fallback) or a
    /// ranking score (pairwise).
    func score(_ x: [Double]) -> Double {
        let h = Double(horizon)
        guard realisedOrigins > 0 else { return Swift.max(0, expm1(x.first ?? 0)) * h }
        if let regression, let p = try? regression.predict(x) { return Swift.max(0, expm1(p)) * h }
        if let pairwise, let s = try? pairwise.score(x) { return s }
        return 0
    }

    /// Credits the newest buckets to pending origins and learns every origin whose label is complete.
    private mutating func realise(_ histories: [Int: [Double]], newBuckets: Int) {
        guard newBuckets > 0 else { return }
        for i in pending.indices {
            let take = Swift.min(horizon - pending[i].realisedBuckets, newBuckets)
            guard take > 0 else { continue }
            for id in pending[i].features.keys.sorted() {
                guard let y = histories[id], y.count >= newBuckets else {
                    // The segment disappeared (or its history was cut): its label can no longer be completed.
                    pending[i].features[id] = nil
                    pending[i].realisedSum[id] = nil
                    continue
                }
                let start = y.count - newBuckets
                var s = 0.0
                for v in y[start..<(start + take)] where v.isFinite { s += Swift.max(0, v) }
                pending[i].realisedSum[id, default: 0] += s
            }
            pending[i].realisedBuckets += take
        }
        while let first = pending.first, first.realisedBuckets >= horizon {
            learn(first)
            pending.removeFirst()
        }
    }

    private mutating func learn(_ origin: PendingOrigin) {
        let ids = origin.features.keys.sorted()
        let xs = ids.map { origin.features[$0] ?? [] }
        let ys = ids.map { ForecastMath.toLog((origin.realisedSum[$0] ?? 0) / Double(horizon)) }
        guard !ids.isEmpty else { return }
        if var r = regression {
            r.decay()
            for (x, y) in zip(xs, ys) { try? r.learn(x, target: y) }
            r.refit()
            regression = r
        }
        if var p = pairwise {
            if case let .pairwise(_, _, b) = model { try? p.learn(features: xs, targets: ys, boundaryK: b) }
            pairwise = p
        }
        realisedOrigins += 1
    }
}
