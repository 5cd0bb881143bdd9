import Foundation
import Testing
@testable import AlmanacPredict

/// A forecaster that knows the generating function (for testing the choice, not a real model).
private struct Oracle: LoadForecaster {
    let f: @Sendable (Int) -> Double
    var name: String { "oracle" }
    func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        (1...horizon).map { h in let v = f(history.count + h - 1); return ForecastPoint(horizon: h, value: v, lower: v, upper: v) }
    }
}

/// A forecaster that diverges (values far outside the history, or not finite).
private struct Runaway: LoadForecaster {
    let nan: Bool
    var name: String { "runaway" }
    func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
        (1...horizon).map { h in ForecastPoint(horizon: h, value: nan ? .nan : 1e12 * Double(h), lower: 0, upper: .infinity) }
    }
}

@Suite struct RobustForecasterTests {
    let trend: @Sendable (Int) -> Double = { t in 100 + Double(t) + 20 * sin(2 * Double.pi * Double(t % 24) / 24) }

    @Test func guardClampsARunawayModel() {
        let y = syntheticHourly(days: 4)
        let mx = y.max() ?? 0
        for nan in [false, true] {
            let f = GuardedForecaster(Runaway(nan: nan)).forecast(history: y, horizon: 12)
            #expect(f.count == 12)
            #expect(f.allSatisfy { $0.value.isFinite && $0.value <= exp(log1p(mx) + 1) && $0.lower <= $0.value && $0.value <= $0.upper })
        }
        // NaN points fall back to seasonal naive exactly.
        let n = GuardedForecaster(Runaway(nan: true)).forecast(history: y, horizon: 3).map(\.value)
        #expect(n == SeasonalNaiveForecaster.daily.forecast(history: y, horizon: 3).map(\.value))
    }

    @Test func choosesSeasonalNaiveAgainstABadModelAndTheModelWhenItIsBetter() {
        let y = (0..<(24 * 6)).map(trend)
        let bad = RobustForecaster(model: Runaway(nan: false))
        #expect(bad.choose(history: y, horizon: 6).choice == .anchor)
        #expect(bad.forecast(history: y, horizon: 6).map(\.value) == SeasonalNaiveForecaster.daily.forecast(history: y, horizon: 6).map(\.value))
        let good = RobustForecaster(model: Oracle(f: trend))
        let c = good.choose(history: y, horizon: 6)
        #expect(c.choice == .model, "\(c.errors)")
        let f = good.forecast(history: y, horizon: 6).map(\.value)
        #expect(abs(f[0] - trend(y.count)) < 1e-9)
    }

    @Test func shortHistoryUsesTheAnchor() {
        let y = (0..<30).map(trend)
        let r = RobustForecaster(model: Oracle(f: trend))
        #expect(y.count < r.minimumHistory)
        #expect(r.forecast(history: y, horizon: 4).map(\.value) == SeasonalNaiveForecaster.daily.forecast(history: y, horizon: 4).map(\.value))
        #expect(r.forecast(history: [], horizon: 2).count == 2)
    }

    @Test func holtWintersStaysWithinTheObservedRangeOnAShortIrregularSeries() {
        // Two days of a steep ramp then a collapse: an undamped recursion would run away.
        var y = (0..<40).map { Double($0 * $0) }
        y += [5, 3, 1, 0, 2, 1, 0, 4]
        let lo = log1p(y.min() ?? 0) - 1, hi = log1p(y.max() ?? 0) + 1
        let f = HoltWintersForecaster(period: 24).forecast(history: y, horizon: 48)
        #expect(f.allSatisfy { $0.value.isFinite && log1p($0.value) <= hi + 1e-9 && log1p($0.value) >= Swift.min(0, lo) - 1e-9 })
    }

    @Test func catalogDefaultIsRobustAndGeometricMeanIsRight() {
        #expect(ForecasterCatalog.named(ForecasterCatalog.defaultName)?.name == "robust")
        #expect(abs(ForecastEvaluation.geometricMean([1, 4]) - 2) < 1e-12)
        #expect(ForecastEvaluation.geometricMean([]) == 0)
    }

    @Test func seriesMASEIsNilWithoutAScaleAndPositiveWithNoise() throws {
        let pure = syntheticHourly(days: 20, weekly: false)
        #expect(ForecastEvaluation.seriesMASE(pure, forecaster: SeasonalNaiveForecaster.daily, horizon: 6, step: 5) == nil)
        let noisy = syntheticHourly(days: 20, noise: true, weekly: false)
        let m = try #require(ForecastEvaluation.seriesMASE(noisy, forecaster: SeasonalNaiveForecaster.daily, horizon: 6, step: 5))
        #expect(m > 0.5 && m < 2)
    }
}
