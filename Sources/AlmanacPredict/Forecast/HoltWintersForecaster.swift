/// Holt-Winters additive seasonal with a damped trend, fitted on log1p(load).
///
/// Smoothing parameters (alpha, beta, gamma, phi) are chosen by a small grid search minimising
/// the in-sample one-step squared error on the history only (never on future data).
/// With less than two seasons of history it degrades to a damped Holt (no season).
public struct HoltWintersForecaster: LoadForecaster {
    public let period: Int
    /// Use at most this many newest buckets to fit (bounds cost). 0 = all.
    public let fitWindow: Int
    public var name: String { "holt-winters-damped-log-\(period)" }

    public struct Parameters: Sendable, Hashable {
        public var alpha: Double, beta: Double, gamma: Double, phi: Double
    }

    static let alphas = [0.05, 0.15, 0.3, 0.6]
    static let betas = [0.0, 0.02]
    static let gammas = [0.02, 0.1, 0.25, 0.5]
    static let phis = [0.9, 0.98]

    public init(period: Int = 24, fitWindow: Int = 24 * 7 * 6) {
        self.period = Swift.max(1, period)
        self.fitWindow = Swift.max(0, fitWindow)
    }

    struct State { var level: Double; var trend: Double; var season: [Double]; var sse: Double; var count: Int }

    /// Runs the recursions over `x` (log space) with parameters `p`; returns the final state and one-step SSE.
    static func run(_ x: [Double], period m: Int, _ p: Parameters) -> State {
        let seasonal = x.count >= 2 * m && m > 1
        let mEff = seasonal ? m : 1
        var season = Array(repeating: 0.0, count: mEff)
        var level: Double
        var trend: Double
        let start: Int
        if seasonal {
            let a = ForecastMath.mean(x[0..<m]), b = ForecastMath.mean(x[m..<(2 * m)])
            level = a
            trend = (b - a) / Double(m)
            for i in 0..<m { season[i] = x[i] - a }
            start = m
        } else {
            level = x[0]
            trend = x.count > 1 ? x[1] - x[0] : 0
            start = 1
        }
        var sse = 0.0
        var count = 0
        if start < x.count {
            for t in start..<x.count {
                let si = t % mEff
                let s = seasonal ? season[si] : 0
                let predicted = level + p.phi * trend + s
                let e = x[t] - predicted
                sse += e * e
                count += 1
                let newLevel = level + p.phi * trend + p.alpha * e
                trend = p.phi * trend + p.alpha * p.beta * e
                if seasonal { season[si] = s + p.gamma * (1 - p.alpha) * e }
                level = newLevel
            }
        }
        return State(level: level, trend: trend, season: season, sse: sse, count: count)
    }

    /// Fits the parameters on `history` (log space) by grid search.
    public func fit(logHistory x: [Double]) -> Parameters {
        var best = Parameters(alpha: 0.3, beta: 0, gamma: 0.1, phi: 0.98)
        var bestSSE = Double.infinity
        for a in Self.alphas { for b in Self.betas { for g in Self.gammas { for f in Self.phis {
            let p = Parameters(alpha: a, beta: b, gamma: g, phi: f)
            let s = Self.run(x, period: period, p)
            if s.sse < bestSSE { bestSSE = s.sse; best = p }
        } } } }
        return best
    }

    public func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        guard horizon > 0 else { return [] }
        var y = ForecastMath.sanitize(history)
        if fitWindow > 0, y.count > fitWindow { y = Array(y.suffix(fitWindow)) }
        guard y.count >= 2 else {
            return SeasonalNaiveForecaster(period: 1).forecast(history: y, horizon: horizon)
        }
        let x = y.map(ForecastMath.toLog)
        let p = fit(logHistory: x)
        let s = Self.run(x, period: period, p)
        let mEff = s.season.count
        var out: [Double] = []
        out.reserveCapacity(horizon)
        var damp = 0.0
        var phiPow = 1.0
        for h in 1...horizon {
            phiPow *= p.phi
            damp += phiPow
            let si = (x.count + h - 1) % mEff
            out.append(s.level + damp * s.trend + (mEff > 1 ? s.season[si] : 0))
        }
        // Divergence guard: a damped trend fitted on a short, irregular history can still run far outside anything
        // observed; keep the forecast within the fitted window's log range +-1 (as the AR forecaster does).
        let lo = (x.min() ?? 0) - 1, hi = (x.max() ?? 0) + 1
        out = out.map { $0.isFinite ? Swift.min(hi, Swift.max(lo, $0)) : (x.last ?? 0) }
        let sigma = s.count > 0 ? (s.sse / Double(s.count)).squareRoot() : 0
        return ForecastMath.pointsFromLog(out, sigma: sigma)
    }
}
