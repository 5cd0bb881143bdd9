/// AR(p) on log1p(load) with extra seasonal lags (e.g. 24 and 168), fitted by ridge least squares
/// on the history only, forecast recursively. Lags longer than the history allows are dropped.
public struct AutoregressiveForecaster: LoadForecaster {
    /// Short lags 1...order.
    public let order: Int
    /// Extra seasonal lags, used as given (e.g. 24 = same hour yesterday, 168 = same hour last week).
    public let seasonalLags: [Int]
    /// Fit on at most this many newest buckets. 0 = all.
    public let fitWindow: Int
    public let ridge: Double
    public var name: String { "ar\(order)-log" + seasonalLags.map { "-\($0)" }.joined() }

    public init(order: Int = 3, seasonalLags: [Int] = [24, 168], fitWindow: Int = 24 * 7 * 6, ridge: Double = 1e-3) {
        self.order = Swift.max(0, order)
        self.seasonalLags = seasonalLags.filter { $0 > order }.sorted()
        self.fitWindow = Swift.max(0, fitWindow)
        self.ridge = Swift.max(0, ridge)
    }

    /// The lag set usable with `n` observations: needs at least 3 rows per coefficient.
    func lags(forCount n: Int) -> [Int] {
        var all = Array(1...Swift.max(1, order))
        if order == 0 { all = [] }
        for s in seasonalLags where !all.contains(s) { all.append(s) }
        return all.filter { lag in n - lag >= 3 * (all.count + 1) }
    }

    public func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        guard horizon > 0 else { return [] }
        var y = ForecastMath.sanitize(history)
        if fitWindow > 0, y.count > fitWindow { y = Array(y.suffix(fitWindow)) }
        let x = y.map(ForecastMath.toLog)
        let lags = lags(forCount: x.count)
        guard let maxLag = lags.max(), x.count > maxLag else {
            return SeasonalNaiveForecaster(period: 1).forecast(history: y, horizon: horizon)
        }
        var rows: [[Double]] = []
        var targets: [Double] = []
        rows.reserveCapacity(x.count - maxLag)
        for t in maxLag..<x.count {
            var row = [1.0]
            for l in lags { row.append(x[t - l]) }
            rows.append(row)
            targets.append(x[t])
        }
        guard let coef = try? LeastSquares.solve(rows: rows, targets: targets, ridge: ridge) else {
            return SeasonalNaiveForecaster(period: 1).forecast(history: y, horizon: horizon)
        }
        var sse = 0.0
        for (r, row) in rows.enumerated() {
            var f = 0.0
            for i in 0..<row.count { f += coef[i] * row[i] }
            sse += (targets[r] - f) * (targets[r] - f)
        }
        let sigma = (sse / Double(rows.count)).squareRoot()
        var ext = x
        let lo = (x.min() ?? 0) - 1, hi = (x.max() ?? 0) + 1
        for _ in 0..<horizon {
            var f = coef[0]
            for (i, l) in lags.enumerated() { f += coef[i + 1] * ext[ext.count - l] }
            // Keep recursive forecasts within a sane band around the observed range (prevents explosive roots).
            ext.append(Swift.min(hi, Swift.max(lo, f)))
        }
        return ForecastMath.pointsFromLog(Array(ext.suffix(horizon)), sigma: sigma)
    }
}
