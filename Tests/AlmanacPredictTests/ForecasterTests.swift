import Foundation
import Testing
@testable import AlmanacPredict

/// A clean daily-seasonal series with a weekly modulation and mild trend, strictly positive.
func syntheticHourly(days: Int, noise: Bool = false, weekly: Bool = true) -> [Double] {
    var rng = SplitMix(seed: 7)
    return (0..<(days * 24)).map { t in
        let daily = 100 + 60 * sin(2 * Double.pi * Double(t % 24) / 24)
        let weekFactor = weekly && (t / 24) % 7 >= 5 ? 0.7 : 1.0
        let n = noise ? (rng.nextUnit() - 0.5) * 10 : 0
        return daily * weekFactor + n
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

@Suite struct ForecasterTests {
    @Test func seasonalNaiveRepeatsLastSeason() {
        let y = (0..<48).map(Double.init)
        let f = SeasonalNaiveForecaster.daily.forecast(history: y, horizon: 30)
        #expect(f.count == 30)
        #expect(f[0].value == 24)
        #expect(f[23].value == 47)
        #expect(f[24].value == 24)
        #expect(f.allSatisfy { $0.lower <= $0.value && $0.value <= $0.upper })
    }

    @Test func seasonalNaiveShortHistoryFallsBackToLast() {
        let f = SeasonalNaiveForecaster.weekly.forecast(history: [1, 2, 3], horizon: 2)
        #expect(f.map(\.value) == [3, 3])
        #expect(SeasonalNaiveForecaster.weekly.forecast(history: [], horizon: 2).map(\.value) == [0, 0])
    }

    @Test func ewmaConvergesToConstantAndWidensInterval() {
        let f = EWMAForecaster(alpha: 0.5).forecast(history: Array(repeating: 10, count: 20) + [12, 8, 11, 9], horizon: 5)
        #expect(abs(f[0].value - 10) < 1.5)
        #expect(f[4].upper - f[4].lower > f[0].upper - f[0].lower)
    }

    @Test func holtWintersTracksDailySeason() {
        let y = syntheticHourly(days: 21, noise: true, weekly: false)
        let actual = Array(y.suffix(48))
        let train = Array(y.dropLast(48))
        let f = HoltWintersForecaster(period: 24).forecast(history: train, horizon: 48).map(\.value)
        #expect(ForecastMetrics.sMAPE(actual: actual, forecast: f) < 5)
    }

    @Test func autoregressiveWithWeeklyLagBeatsDailyNaiveOnWeeklyPattern() {
        let y = syntheticHourly(days: 35, noise: true)
        let actual = Array(y.suffix(48))
        let train = Array(y.dropLast(48))
        let ar = AutoregressiveForecaster(order: 3, seasonalLags: [24, 168]).forecast(history: train, horizon: 48).map(\.value)
        let sn = SeasonalNaiveForecaster.daily.forecast(history: train, horizon: 48).map(\.value)
        let arErr = ForecastMetrics.sMAPE(actual: actual, forecast: ar)
        let snErr = ForecastMetrics.sMAPE(actual: actual, forecast: sn)
        #expect(arErr < snErr)
        #expect(arErr < 10)
    }

    @Test func leastSquaresRecoversLinearModel() throws {
        var rng = SplitMix(seed: 3)
        var rows: [[Double]] = [], ys: [Double] = []
        for _ in 0..<200 {
            let a = rng.nextUnit(), b = rng.nextUnit()
            rows.append([1, a, b]); ys.append(2 + 3 * a - 1.5 * b)
        }
        let c = try LeastSquares.solve(rows: rows, targets: ys, ridge: 0)
        #expect(abs(c[0] - 2) < 1e-6 && abs(c[1] - 3) < 1e-6 && abs(c[2] + 1.5) < 1e-6)
        #expect(throws: LeastSquares.Failure.dimensionMismatch) { try LeastSquares.solve(rows: [[1, 2], [1]], targets: [1, 2]) }
        #expect(throws: LeastSquares.Failure.notPositiveDefinite) { try LeastSquares.choleskySolve([0, 0, 0, 0], [1, 1], n: 2) }
    }

    @Test func combinationIsMedianOfMembers() {
        struct Const: LoadForecaster {
            let c: Double
            var name: String { "c" }
            func forecast(history: [Double], horizon: Int) -> [ForecastPoint] {
                (1...horizon).map { ForecastPoint(horizon: $0, value: c, lower: c - 1, upper: c + 1) }
            }
        }
        let comb = CombinationForecaster(members: [Const(c: 1), Const(c: 10), Const(c: 4)])
        #expect(comb.forecast(history: [1, 1, 1], horizon: 3).map(\.value) == [4, 4, 4])
    }

    @Test func spikeOverrideRaisesShortHorizonOnly() {
        var y = syntheticHourly(days: 10, noise: true)
        let base = CombinationForecaster.hourlyDefault()
        let noOverride = CombinationForecaster(members: base.members, spikeZ: .infinity)
        let calm = base.forecast(history: y, horizon: 24)
        #expect(calm.map(\.value) == noOverride.forecast(history: y, horizon: 24).map(\.value))
        y[y.count - 1] *= 20
        // A single-bucket blip does not fire the override (it needs two spiking buckets in a row).
        #expect(base.forecast(history: y, horizon: 24).map(\.value) == noOverride.forecast(history: y, horizon: 24).map(\.value))
        y[y.count - 2] *= 20
        let spiked = base.forecast(history: y, horizon: 24)
        let plain = noOverride.forecast(history: y, horizon: 24)
        // The override lifts the next buckets well above the median and has decayed to (almost) nothing a day out.
        #expect(spiked[0].value > 1.5 * plain[0].value)
        #expect(spiked[0].value > 3 * calm[0].value)
        #expect(spiked[23].value < 1.02 * plain[23].value)
    }

    @Test func segmentSeriesRingSlidesAndZeroFills() throws {
        var s = try SegmentLoadSeries(bucketWidth: 10, capacity: 4)
        s.record(time: 5)
        s.record(time: 7, amount: 2)
        s.record(time: 25)
        #expect(s.values == [3, 0, 1])
        s.record(time: 15)
        #expect(s.values == [3, 1, 1])
        s.record(time: 61)
        #expect(s.values == [0, 0, 0, 1])
        s.record(time: 0) // older than window: ignored
        #expect(s.values == [0, 0, 0, 1])
        #expect(s.approximateBytes == 32 + 16)
        #expect(throws: SegmentLoadSeries.Failure.self) { try SegmentLoadSeries(bucketWidth: 0) }
    }

    @Test func hotSetRanksByForecastTotal() {
        let ranker = HotSetRanker(forecaster: SeasonalNaiveForecaster(period: 1))
        let top = ranker.hottest([1: [5, 5], 2: [1, 9], 3: [3, 3], 4: [9, 1]], horizon: 3, k: 2)
        #expect(top.map(\.segment) == [2, 1])
        #expect(ForecastMetrics.precisionAtK(predicted: [2, 1], actual: [2, 3], k: 2) == 0.5)
    }

    /// The blended ranker scores by the geometric mean of its forecasters' totals, so it can differ from each
    /// member: segment 1 is hottest for the last-value member, segment 2 for the 2-bucket seasonal member,
    /// and segment 3 (second for both) wins the blend.
    @Test func blendedHotSetRankerUsesGeometricMeanOfTotals() {
        let last = SeasonalNaiveForecaster(period: 1), twoAgo = SeasonalNaiveForecaster(period: 2)
        let histories: [Int: [Double]] = [1: [1, 100], 2: [100, 1], 3: [40, 40]]
        #expect(HotSetRanker(forecaster: last).hottest(histories, horizon: 1, k: 1).map(\.segment) == [1])
        #expect(HotSetRanker(forecaster: twoAgo).hottest(histories, horizon: 1, k: 1).map(\.segment) == [2])
        let blend = HotSetRanker(forecasters: [last, twoAgo])
        let top = blend.hottest(histories, horizon: 1, k: 3)
        #expect(top.map(\.segment) == [3, 1, 2])
        #expect(abs(top[0].predictedLoad - 40) < 1e-9)
        #expect(abs(top[1].predictedLoad - 10) < 1e-9)
        #expect(HotSetRanker.hourlyDefault().forecasters.count == 3)
        #expect(blend.name.hasPrefix("blend("))
    }

    @Test func metricsMatchHandComputedValues() {
        #expect(abs(ForecastMetrics.sMAPE(actual: [100, 0], forecast: [50, 0]) - 200.0 * 50 / 150 / 2) < 1e-9)
        let m = ForecastMetrics.MASE(actual: [4], forecast: [2], insample: [1, 2, 3, 5], period: 1)
        #expect(m.map { abs($0 - 2 / (4.0 / 3)) < 1e-9 } == true)
    }

    @Test func timestampParsingAndBucketing() throws {
        #expect(SeriesFormats.epochSeconds("1970-01-02 00:00:10") == 86410)
        #expect(SeriesFormats.epochSeconds("2015-02-26 21:42:53") == 1_424_986_973)
        let pts = try SeriesFormats.parseTimestampValueCSV("timestamp,value\n1970-01-01 00:30:00,1\n1970-01-01 01:10:00,2\n1970-01-01 01:50:00,3\n1970-01-01 03:00:00,4\n")
        #expect(SeriesFormats.bucketize(pts, width: 3600, dropPartialEnds: false) == [1, 5, 0, 4])
        #expect(throws: SeriesFormats.Failure.self) { try SeriesFormats.parseTimestampValueCSV("t,v\nxx,1\n") }
    }

    /// Series that start at different wall-clock times must be aligned on the same UTC buckets: a series whose
    /// first sample sits exactly on an hour keeps that hour; one starting mid-hour loses its partial first hour.
    @Test func bucketizeAlignedReportsTheFirstWallClockBucket() throws {
        let onHour = try SeriesFormats.parseTimestampValueCSV("t,v\n1970-01-01 01:00:00,1\n1970-01-01 01:30:00,2\n1970-01-01 02:00:00,3\n1970-01-01 02:30:00,4\n1970-01-01 03:00:00,5\n")
        let a = SeriesFormats.bucketizeAligned(onHour, width: 3600)
        #expect(a.firstBucket == 1)
        #expect(a.values == [3, 7])
        let midHour = try SeriesFormats.parseTimestampValueCSV("t,v\n1970-01-01 01:30:00,2\n1970-01-01 02:00:00,3\n1970-01-01 02:30:00,4\n1970-01-01 03:00:00,5\n")
        let b = SeriesFormats.bucketizeAligned(midHour, width: 3600)
        #expect(b.firstBucket == 2)
        #expect(b.values == [7])
    }
}

@Suite struct SeasonalMeanTests {
    @Test func averagesPastWeeksAndFollowsLevelShift() {
        let y = syntheticHourly(days: 35)
        let f = SeasonalMeanForecaster(period: 168, seasons: 4, levelDamping: 1).forecast(history: y, horizon: 24).map(\.value)
        // A noiseless weekly-periodic series: the forecast repeats the same hours one week earlier.
        for h in 0..<24 { #expect(abs(f[h] - y[y.count - 168 + h]) < 1e-6 * y[y.count - 168 + h] + 1e-9) }
        // Doubling the last day's level shifts the forecast up (log-space offset).
        var shifted = y
        for i in (y.count - 24)..<y.count { shifted[i] *= 2 }
        let g = SeasonalMeanForecaster(period: 168, seasons: 4, levelDamping: 1).forecast(history: shifted, horizon: 24).map(\.value)
        #expect(g[0] > 1.6 * f[0])
    }

    @Test func shortHistoryFallsBack() {
        #expect(SeasonalMeanForecaster().forecast(history: [3, 4], horizon: 2).map(\.value) == [4, 4])
        #expect(SeasonalMeanForecaster().forecast(history: syntheticHourly(days: 3), horizon: 5).count == 5)
    }

    @Test func catalogKnowsEveryListedName() {
        for n in ForecasterCatalog.names { #expect(ForecasterCatalog.named(n) != nil, "\(n)") }
        #expect(ForecasterCatalog.named("nope") == nil)
    }
}
