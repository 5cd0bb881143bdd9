import Testing
@testable import AlmanacPredict

/// The metric anchor: seasonal naive (m=24) on the full M4 Hourly set must reproduce the official scores.
@Test func seasonalNaiveReproducesOfficialM4HourlyScores() throws {
    guard let train = TestData.text("forecast/m4/Hourly-train.csv"), let test = TestData.text("forecast/m4/Hourly-test.csv") else {
        print("SKIP: ../shared/data/forecast/m4 not found")
        return
    }
    let tr = try SeriesFormats.parseM4(train), te = try SeriesFormats.parseM4(test)
    #expect(tr.count == 414 && te.count == 414)
    var smape = 0.0, mase = 0.0
    for (a, b) in zip(tr, te) {
        #expect(a.id == b.id && b.values.count == 48)
        let f = SeasonalNaiveForecaster.daily.forecast(history: a.values, horizon: 48).map(\.value)
        smape += ForecastMetrics.sMAPE(actual: b.values, forecast: f)
        mase += try #require(ForecastMetrics.MASE(actual: b.values, forecast: f, insample: a.values, period: 24))
    }
    smape /= Double(tr.count); mase /= Double(tr.count)
    #expect(abs(smape - 13.912) < 0.0005, "sMAPE \(smape)")
    #expect(abs(mase - 1.193) < 0.0005, "MASE \(mase)")
}
