/// A divergence guard around any forecaster.
///
/// Points that are not finite are replaced by the fallback's (seasonal naive). Values are clamped in log1p
/// space to the range of the recent history widened by `logBand` (e^1 ≈ 2.7x above the recent maximum and
/// below the recent minimum with the default band): a forecaster whose recursion runs away (Holt-Winters on
/// a short, irregular series) can then be wrong, but not unboundedly wrong.
public struct GuardedForecaster: LoadForecaster {
    public let inner: any LoadForecaster
    public let fallback: any LoadForecaster
    /// Newest buckets whose range bounds the forecast.
    public let window: Int
    /// Log-space margin added around the recent range.
    public let logBand: Double
    public var name: String { "guarded-\(inner.name)" }

    public init(_ inner: any LoadForecaster, fallback: any LoadForecaster = SeasonalNaiveForecaster.daily, window: Int = 24 * 14, logBand: Double = 1) {
        self.inner = inner
        self.fallback = fallback
        self.window = Swift.max(1, window)
        self.logBand = Swift.max(0, logBand)
    }

    public func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        guard horizon > 0 else { return [] }
        let y = ForecastMath.sanitize(history)
        let raw = inner.forecast(history: y, horizon: horizon)
        let recent = y.suffix(window)
        guard let mx = recent.max(), let mn = recent.min() else { return fallback.forecast(history: y, horizon: horizon) }
        let hi = ForecastMath.fromLog(ForecastMath.toLog(mx) + logBand)
        let lo = ForecastMath.fromLog(ForecastMath.toLog(mn) - logBand)
        var safe: [ForecastPoint]?
        return (0..<horizon).map { i in
            guard i < raw.count, raw[i].value.isFinite else {
                if safe == nil { safe = fallback.forecast(history: y, horizon: horizon) }
                return safe?[i] ?? ForecastPoint(horizon: i + 1, value: mx, lower: mn, upper: mx)
            }
            let p = raw[i]
            let v = Swift.min(hi, Swift.max(lo, p.value))
            let l = p.lower.isFinite ? Swift.min(v, Swift.max(0, p.lower)) : 0
            let u = p.upper.isFinite ? Swift.max(v, Swift.min(p.upper, hi * 2)) : hi
            return ForecastPoint(horizon: i + 1, value: v, lower: l, upper: u)
        }
    }
}

/// The robust default: chooses, per series and per call, between seasonal naive (the anchor), a guarded model
/// and their even blend (the model shrunk halfway toward seasonal naive), by out-of-sample error on the newest
/// part of the history.
///
/// - *Backtest.* From `origins` origins at the end of the history, spaced `stride` buckets apart (the newest
///   ends exactly at the newest bucket), every option forecasts `min(horizon, maxBacktestHorizon)` buckets from
///   the history before the origin and is scored by its absolute error against what followed. Only the past is
///   used, so this is the online "recent out-of-sample error" of each option, recomputed at every call.
/// - *Choice.* The option with the smallest total error, but a model-based option must beat seasonal naive by
///   `margin` (relative) to be chosen: seasonal naive is the default when the evidence is weak.
/// - *Short histories.* Below `minimumHistory` buckets the anchor is returned (nothing to judge the model on).
///
/// No parameter here was fitted to a series set: the option list, 8 origins, the stride and the 5 % margin are
/// fixed rules, so the choice on a new series depends only on that series' own past.
public struct RobustForecaster: LoadForecaster {
    public let anchor: any LoadForecaster
    public let model: any LoadForecaster
    public let period: Int
    public let origins: Int
    public let stride: Int
    public let maxBacktestHorizon: Int
    public let margin: Double
    public let name: String

    /// The options, in preference order on ties.
    public enum Choice: String, Sendable, CaseIterable { case anchor, blend, model }

    public init(anchor: any LoadForecaster = SeasonalNaiveForecaster.daily, model: any LoadForecaster, period: Int = 24,
                origins: Int = 8, stride: Int? = nil, maxBacktestHorizon: Int = 24, margin: Double = 0.05, name: String = "robust") {
        self.anchor = anchor
        self.model = GuardedForecaster(model, fallback: anchor)
        self.period = Swift.max(1, period)
        self.origins = Swift.max(1, origins)
        // Coprime-ish to the season so the origins cover different phases of the day (7 for hourly buckets).
        self.stride = Swift.max(1, stride ?? (2 * Swift.max(1, period) / Swift.max(1, origins) + 1))
        self.maxBacktestHorizon = Swift.max(1, maxBacktestHorizon)
        self.margin = Swift.max(0, margin)
        self.name = name
    }

    /// The default for hourly buckets: the median combination (`CombinationForecaster.hourlyDefault()`), guarded,
    /// chosen against seasonal naive (24) and their blend.
    public static func hourlyDefault() -> RobustForecaster {
        RobustForecaster(model: CombinationForecaster.hourlyDefault())
    }

    /// History needed before the model is ever used: two seasons before the oldest backtest origin.
    public var minimumHistory: Int { 2 * period + (origins - 1) * stride + 1 }

    /// Which option the backtest picks for `history` at `horizon`, with each option's backtest error.
    public func choose(history y: [Double], horizon: Int) -> (choice: Choice, errors: [Choice: Double]) {
        let hb = Swift.min(Swift.max(1, horizon), maxBacktestHorizon)
        guard y.count >= minimumHistory + hb else { return (.anchor, [:]) }
        var err: [Choice: Double] = [.anchor: 0, .blend: 0, .model: 0]
        for k in 0..<origins {
            let o = y.count - hb - k * stride
            guard o >= 2 * period else { break }
            let past = Array(y[0..<o])
            let a = anchor.forecast(history: past, horizon: hb).map(\.value)
            let m = model.forecast(history: past, horizon: hb).map(\.value)
            for i in 0..<hb {
                let actual = y[o + i]
                err[.anchor, default: 0] += abs(actual - a[i])
                err[.model, default: 0] += abs(actual - m[i])
                err[.blend, default: 0] += abs(actual - (a[i] + m[i]) / 2)
            }
        }
        let base = err[.anchor] ?? 0
        var best = Choice.anchor
        var bestErr = base
        for c in [Choice.blend, .model] {
            let e = err[c] ?? .infinity
            if e < base * (1 - margin), e < bestErr { best = c; bestErr = e }
        }
        return (best, err)
    }

    public func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        guard horizon > 0 else { return [] }
        let y = ForecastMath.sanitize(history)
        switch choose(history: y, horizon: horizon).choice {
        case .anchor: return anchor.forecast(history: y, horizon: horizon)
        case .model: return model.forecast(history: y, horizon: horizon)
        case .blend:
            let a = anchor.forecast(history: y, horizon: horizon), m = model.forecast(history: y, horizon: horizon)
            return zip(a, m).map { p, q in
                let v = (p.value + q.value) / 2
                return ForecastPoint(horizon: p.horizon, value: v, lower: Swift.min(v, Swift.min(p.lower, q.lower)), upper: Swift.max(v, Swift.max(p.upper, q.upper)))
            }
        }
    }
}
