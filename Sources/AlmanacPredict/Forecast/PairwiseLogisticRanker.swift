import Foundation

/// A linear pairwise ranking model (RankNet with a linear scorer), trained online by SGD.
///
/// The score of an item is `w·x`. For a pair where item i's target exceeds item j's, the model minimises the
/// logistic loss `log(1 + exp(-w·(x_i − x_j)))` plus `l2/2·|w|²`. No intercept: it cancels in every pair.
/// Memory is O(d). Deterministic: pairs are visited in index order.
public struct PairwiseLogisticRanker: Sendable, Hashable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case badParameter(String)
        case dimensionMismatch(expected: Int, got: Int)
        public var description: String {
            switch self {
            case let .badParameter(s): return "pairwise ranker: \(s)"
            case let .dimensionMismatch(e, g): return "pairwise ranker: expected \(e) features, got \(g)"
            }
        }
    }

    public let dimension: Int
    /// SGD step size.
    public let learningRate: Double
    /// L2 penalty on the weights.
    public let l2: Double
    public private(set) var weights: [Double]
    /// Pairs learned.
    public private(set) var pairs = 0

    public init(dimension: Int, learningRate: Double = 0.01, l2: Double = 0) throws(Failure) {
        guard dimension >= 1 else { throw .badParameter("dimension must be >= 1, got \(dimension)") }
        guard learningRate > 0, learningRate.isFinite else { throw .badParameter("learning rate must be > 0, got \(learningRate)") }
        guard l2 >= 0, l2.isFinite else { throw .badParameter("l2 must be >= 0, got \(l2)") }
        self.dimension = dimension
        self.learningRate = learningRate
        self.l2 = l2
        weights = Array(repeating: 0, count: dimension)
    }

    /// One SGD pass over every ordered pair of items with different targets (one ranking query, e.g. one origin).
    /// With `boundaryK`, only the pairs that straddle the actual top k (i in it, j outside; ties by index) are
    /// learned: the only swaps that change precision@k.
    public mutating func learn(features: [[Double]], targets: [Double], boundaryK: Int? = nil) throws(Failure) {
        guard features.count == targets.count else { throw .dimensionMismatch(expected: features.count, got: targets.count) }
        for x in features where x.count != dimension { throw .dimensionMismatch(expected: dimension, got: x.count) }
        var inTop = Array(repeating: true, count: features.count)
        if let k = boundaryK {
            let order = features.indices.sorted { targets[$0] != targets[$1] ? targets[$0] > targets[$1] : $0 < $1 }
            inTop = Array(repeating: false, count: features.count)
            for i in order.prefix(Swift.max(0, k)) { inTop[i] = true }
        }
        for i in features.indices where targets[i].isFinite && inTop[i] {
            for j in features.indices where targets[j].isFinite && targets[i] > targets[j] && (boundaryK == nil || !inTop[j]) {
                var z = 0.0
                for d in 0..<dimension { z += weights[d] * (features[i][d] - features[j][d]) }
                // d/dw of log(1 + exp(-z)) = -σ(-z) · (x_i − x_j).
                let g = -1 / (1 + exp(z))
                guard g.isFinite else { continue }
                for d in 0..<dimension {
                    weights[d] -= learningRate * (g * (features[i][d] - features[j][d]) + l2 * weights[d])
                }
                pairs += 1
            }
        }
    }

    /// The ranking score of `x` (higher ranks first).
    public func score(_ x: [Double]) throws(Failure) -> Double {
        guard x.count == dimension else { throw .dimensionMismatch(expected: dimension, got: x.count) }
        var s = 0.0
        for d in 0..<dimension { s += weights[d] * x[d] }
        return s
    }
}
