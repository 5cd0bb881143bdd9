/// Linear ridge regression learned online with exponential forgetting (recursive least squares, solved exactly).
///
/// Keeps only the sufficient statistics: the Gram matrix `Σ λ^age x xᵀ` and moment `Σ λ^age x y` over inputs
/// extended with an intercept, so memory is O(d²) whatever the number of examples. `refit()` solves
/// `(G + ridge·I') w = m`, where I' leaves the intercept unpenalised. Deterministic.
public struct OnlineRidgeRegression: Sendable, Hashable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case badParameter(String)
        case dimensionMismatch(expected: Int, got: Int)
        public var description: String {
            switch self {
            case let .badParameter(s): return "online ridge regression: \(s)"
            case let .dimensionMismatch(e, g): return "online ridge regression: expected \(e) features, got \(g)"
            }
        }
    }

    /// Number of input features (without the intercept).
    public let dimension: Int
    /// Weight kept by past examples at each `decay()`, in (0, 1]; 1 never forgets.
    public let forgetting: Double
    /// L2 penalty on the feature weights (not on the intercept).
    public let ridge: Double
    /// Examples learned (not discounted).
    public private(set) var examples = 0
    /// Current coefficients, features first and the intercept last (all 0 before the first `refit()`).
    public private(set) var coefficients: [Double]
    private var gram: [Double]
    private var moment: [Double]

    public init(dimension: Int, forgetting: Double = 1, ridge: Double = 1) throws(Failure) {
        guard dimension >= 1 else { throw .badParameter("dimension must be >= 1, got \(dimension)") }
        guard forgetting > 0, forgetting <= 1 else { throw .badParameter("forgetting must be in (0, 1], got \(forgetting)") }
        guard ridge >= 0, ridge.isFinite else { throw .badParameter("ridge must be >= 0, got \(ridge)") }
        self.dimension = dimension
        self.forgetting = forgetting
        self.ridge = ridge
        let p = dimension + 1
        coefficients = Array(repeating: 0, count: p)
        gram = Array(repeating: 0, count: p * p)
        moment = Array(repeating: 0, count: p)
    }

    /// Discounts everything learned so far by `forgetting` (call once per time step).
    public mutating func decay() {
        guard forgetting < 1 else { return }
        for i in gram.indices { gram[i] *= forgetting }
        for i in moment.indices { moment[i] *= forgetting }
    }

    /// Adds one (features, target) example. Call `refit()` to update the coefficients.
    public mutating func learn(_ x: [Double], target: Double) throws(Failure) {
        guard x.count == dimension else { throw .dimensionMismatch(expected: dimension, got: x.count) }
        guard target.isFinite, x.allSatisfy(\.isFinite) else { return }
        let p = dimension + 1
        for i in 0..<p {
            let xi = i < dimension ? x[i] : 1
            moment[i] += xi * target
            for j in 0..<p { gram[i * p + j] += xi * (j < dimension ? x[j] : 1) }
        }
        examples += 1
    }

    /// Solves for the coefficients from the current statistics. Keeps the previous ones if the system is singular.
    public mutating func refit() {
        let p = dimension + 1
        var a = gram
        for i in 0..<dimension { a[i * p + i] += ridge }
        // A tiny jitter keeps the system positive definite before any example (or with a zero ridge).
        for i in 0..<p { a[i * p + i] += 1e-9 }
        if let w = try? LeastSquares.choleskySolve(a, moment, n: p) { coefficients = w }
    }

    /// The prediction for `x`: `w·x + intercept`.
    public func predict(_ x: [Double]) throws(Failure) -> Double {
        guard x.count == dimension else { throw .dimensionMismatch(expected: dimension, got: x.count) }
        var s = coefficients[dimension]
        for i in 0..<dimension { s += coefficients[i] * x[i] }
        return s
    }
}
