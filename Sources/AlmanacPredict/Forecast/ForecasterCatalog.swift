/// Named forecaster configurations, for configuration files and the evaluation tool.
public enum ForecasterCatalog {
    /// All names, in report order.
    public static let names = ["seasonal-naive-24", "seasonal-naive-168", "ewma", "seasonal-mean", "holt-winters", "ar", "ar24", "combination-snaive168", "combination-ar3", "combination-mean", "combination-nospike", "combination-persist1", "combination", "robust"]
    /// The default forecaster's name.
    public static let defaultName = "robust"

    /// The forecaster for `name`, or nil for an unknown name.
    public static func named(_ name: String) -> (any LoadForecaster)? {
        switch name {
        case "seasonal-naive-24", "seasonal-naive": return SeasonalNaiveForecaster.daily
        case "seasonal-naive-168": return SeasonalNaiveForecaster.weekly
        case "ewma": return EWMAForecaster()
        case "holt-winters": return HoltWintersForecaster(period: 24)
        case "ar": return AutoregressiveForecaster(order: 3, seasonalLags: [24, 168])
        case "combination": return CombinationForecaster.hourlyDefault()
        case "robust", "default": return RobustForecaster.hourlyDefault()
        case "seasonal-mean": return SeasonalMeanForecaster(period: 168, seasons: 4)
        case "combination-snaive168":
            // The first combination tried (weekly seasonal naive instead of the seasonal mean), kept for the record.
            return CombinationForecaster(members: [SeasonalNaiveForecaster.weekly, HoltWintersForecaster(period: 24), AutoregressiveForecaster(order: 3, seasonalLags: [24, 168])], name: "combination-snaive168")
        case "ar24": return AutoregressiveForecaster(order: 24, seasonalLags: [48, 168])
        case "combination-mean":
            return CombinationForecaster(members: CombinationForecaster.hourlyDefault().members, spikePersistence: 2, name: "combination-mean", useMean: true)
        case "combination-ar3":
            return CombinationForecaster(members: [SeasonalMeanForecaster(), HoltWintersForecaster(period: 24), AutoregressiveForecaster(order: 3, seasonalLags: [24, 168])], spikePersistence: 2, name: "combination-ar3")
        case "combination-nospike":
            return CombinationForecaster(members: CombinationForecaster.hourlyDefault().members, spikeZ: .infinity, name: "combination-nospike")
        case "combination-persist1":
            return CombinationForecaster(members: CombinationForecaster.hourlyDefault().members, spikePersistence: 1, name: "combination-persist1")
        default: return nil
        }
    }
}
