/// Named forecaster configurations, for configuration files and the evaluation tool.
public enum ForecasterCatalog {
    /// All names, in report order.
    public static let names = ["seasonal-naive-24", "seasonal-naive-168", "ewma", "holt-winters", "ar", "combination"]

    /// The forecaster for `name`, or nil for an unknown name.
    public static func named(_ name: String) -> (any LoadForecaster)? {
        switch name {
        case "seasonal-naive-24", "seasonal-naive": return SeasonalNaiveForecaster.daily
        case "seasonal-naive-168": return SeasonalNaiveForecaster.weekly
        case "ewma": return EWMAForecaster()
        case "holt-winters": return HoltWintersForecaster(period: 24)
        case "ar": return AutoregressiveForecaster(order: 3, seasonalLags: [24, 168])
        case "combination": return CombinationForecaster.hourlyDefault()
        case "combination-nospike":
            let d = CombinationForecaster.hourlyDefault()
            return CombinationForecaster(members: d.members, spikeZ: .infinity)
        case "combination-z3":
            let d = CombinationForecaster.hourlyDefault()
            return CombinationForecaster(members: d.members, spikeZ: 3, spikeHalfLife: 6)
        case "combination-z2":
            let d = CombinationForecaster.hourlyDefault()
            return CombinationForecaster(members: d.members, spikeZ: 2, spikeHalfLife: 6)
        case "combination-daily":
            return CombinationForecaster(members: [SeasonalNaiveForecaster.daily, HoltWintersForecaster(period: 24), AutoregressiveForecaster(order: 3, seasonalLags: [24, 168])])
        case "ar24":
            return AutoregressiveForecaster(order: 24, seasonalLags: [48, 168])
        default: return nil
        }
    }
}
