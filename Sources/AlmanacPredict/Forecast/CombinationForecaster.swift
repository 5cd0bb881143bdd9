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
    /// How many of the newest buckets must all be spikes before the override fires (1 = any single bucket).
    public let spikePersistence: Int
    public let name: String
    /// Median (default, robust) or mean of the members' points.
    public let useMean: Bool

    public init(members: [any LoadForecaster], seasonPeriod: Int = 24, spikeZ: Double = 4, spikeHalfLife: Double = 3, spikePersistence: Int = 1, name: String = "combination", useMean: Bool = false) {
        self.spikePersistence = Swift.max(1, spikePersistence)
        self.name = name
        self.useMean = useMean
        self.members = members
        self.seasonPeriod = Swift.max(1, seasonPeriod)
        self.spikeZ = spikeZ
        self.spikeHalfLife = Swift.max(0.1, spikeHalfLife)
    }

    /// The default combination for hourly buckets: level-adjusted weekly seasonal mean (4 weeks), damped
    /// Holt-Winters on log1p (daily season) and AR(24) on log1p with extra lags 48 and 168.
    /// The spike override fires only when the two newest buckets are both spikes (single-bucket blips are noise).
    /// Chosen on validation windows only (M4: last 48 of train; NAB: rolling origin inside the first 70%).
    public static func hourlyDefault() -> CombinationForecaster {
        CombinationForecaster(members: [
            SeasonalMeanForecaster(period: 168, seasons: 4),
            HoltWintersForecaster(period: 24),
            AutoregressiveForecaster(order: 24, seasonalLags: [48, 168]),
        ], seasonPeriod: 24, spikePersistence: 2)
    }

    /// Log-space excess of the newest buckets over their seasonal expectation when the newest `spikePersistence`
    /// buckets are all spikes (robust z above `spikeZ`), else nil. The smallest of their excesses is returned.
    func spikeExcess(_ y: [Double]) -> Double? {
        let m = seasonPeriod
        let n = y.count
        let p = spikePersistence
        guard n > 3 * m + p else { return nil }
        let x = y.suffix(8 * m).map(ForecastMath.toLog)
        let k = x.count
        // Seasonal differences over the window (excluding the newest p), robust scale by MAD.
        var diffs: [Double] = []
        for t in m..<(k - p) { diffs.append(x[t] - x[t - m]) }
        let med = ForecastMath.median(diffs)
        let mad = ForecastMath.median(diffs.map { abs($0 - med) }) * 1.4826
        guard mad > 0 else { return nil }
        var smallest = Double.infinity
        for i in (k - p)..<k {
            // Expectation of bucket i: median of the same phase over previous seasons.
            var same: [Double] = []
            var t = i - m
            while t >= 0 { same.append(x[t]); t -= m }
            let excess = x[i] - ForecastMath.median(same)
            let z = (x[i] - x[i - m] - med) / mad
            guard z > spikeZ, excess > 0 else { return nil }
            smallest = Swift.min(smallest, excess)
        }
        return smallest
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
