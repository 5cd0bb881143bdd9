import Foundation

/// Median combination of member forecasters, with a spike override.
///
/// Point forecast at each horizon = median of the members' point forecasts (interval = median of
/// their bounds). Spike override: if the newest bucket is far above its seasonal expectation
/// (robust z-score in log space above `spikeZ`), the forecast is raised to let the excess persist,
/// decaying with half-life `spikeHalfLife` buckets: log f_h = max(median_h, median_h + excess * 0.5^(h/halfLife)).
/// Median forecasts ignore a fresh burst; a placement decider must not.
public struct CombinationForecaster: LoadForecaster {
    public let members: [any LoadForecaster]
    public let seasonPeriod: Int
    public let spikeZ: Double
    public let spikeHalfLife: Double
    public let name: String
    /// Median (default, robust) or mean of the members' points.
    public let useMean: Bool

    public init(members: [any LoadForecaster], seasonPeriod: Int = 24, spikeZ: Double = 4, spikeHalfLife: Double = 3, name: String = "combination", useMean: Bool = false) {
        self.name = name
        self.useMean = useMean
        self.members = members
        self.seasonPeriod = Swift.max(1, seasonPeriod)
        self.spikeZ = spikeZ
        self.spikeHalfLife = Swift.max(0.1, spikeHalfLife)
    }

    /// The default combination for hourly buckets: level-adjusted weekly seasonal mean (4 weeks), damped
    /// Holt-Winters on log1p (daily season) and AR(24) on log1p with extra lags 48 and 168.
    /// Chosen on validation windows only (M4: last 48 of train; NAB: rolling origin inside the first 70%).
    public static func hourlyDefault() -> CombinationForecaster {
        CombinationForecaster(members: [
            SeasonalMeanForecaster(period: 168, seasons: 4),
            HoltWintersForecaster(period: 24),
            AutoregressiveForecaster(order: 24, seasonalLags: [48, 168]),
        ], seasonPeriod: 24)
    }

    /// Log-space excess of the newest bucket over its seasonal expectation when it is a spike, else nil.
    func spikeExcess(_ y: [Double]) -> Double? {
        let m = seasonPeriod
        let n = y.count
        guard n > 3 * m else { return nil }
        let x = y.suffix(8 * m).map(ForecastMath.toLog)
        let k = x.count
        // Seasonal differences over the window (excluding the newest), robust scale by MAD.
        var diffs: [Double] = []
        for t in m..<(k - 1) { diffs.append(x[t] - x[t - m]) }
        let med = ForecastMath.median(diffs)
        let mad = ForecastMath.median(diffs.map { abs($0 - med) }) * 1.4826
        guard mad > 0 else { return nil }
        // Expectation of the newest: median of the same phase over previous seasons.
        var same: [Double] = []
        var t = k - 1 - m
        while t >= 0 { same.append(x[t]); t -= m }
        let expected = ForecastMath.median(same)
        let excess = x[k - 1] - expected
        let z = (x[k - 1] - x[k - 1 - m] - med) / mad
        return z > spikeZ && excess > 0 ? excess : nil
    }

    public func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        guard horizon > 0 else { return [] }
        let y = ForecastMath.sanitize(history)
        guard !members.isEmpty else { return SeasonalNaiveForecaster(period: 1).forecast(history: y, horizon: horizon) }
        let all = members.map { $0.forecast(history: y, horizon: horizon) }
        let excess = spikeExcess(y)
        return (0..<horizon).map { i in
            var v = useMean ? ForecastMath.mean(all.map { $0[i].value }) : ForecastMath.median(all.map { $0[i].value })
            let lo = ForecastMath.median(all.map { $0[i].lower })
            var hi = ForecastMath.median(all.map { $0[i].upper })
            if let excess {
                let h = Double(i + 1)
                let boosted = ForecastMath.fromLog(ForecastMath.toLog(v) + excess * pow(0.5, h / spikeHalfLife))
                if boosted > v { v = boosted; hi = Swift.max(hi, boosted) }
            }
            return ForecastPoint(horizon: i + 1, value: v, lower: Swift.min(lo, v), upper: Swift.max(hi, v))
        }
    }
}
