import AlmanacControl
import AlmanacKeyspace

/// The seed's read-only placement calls on the running cluster: `predict_access_pattern(key)` and
/// `plan_migration(key)` (a dry run). Both replay the window of access buckets the nodes keep (read
/// over the client protocol, ``ClusterLoadReader``) through a fresh ``PlacementController`` with
/// the lease holder's settings, the same rules the controller runs, and change nothing.
public enum ControllerQueries {
    /// What `plan_migration` found for one shard.
    public struct MigrationPlanPreview: Sendable, Codable {
        public var shard: ShardID
        public var policy: String
        public var bucketsReplayed: Int
        /// The decisions the policy makes on the newest bucket for this shard (none: it stays).
        public var decisions: [ControllerDecision]
        /// Decisions the replay made on earlier buckets for this shard (how the policy got here).
        public var earlier: [ControllerDecision]
    }

    /// A controller fed every complete bucket of `view`; the decisions of the newest bucket apart.
    static func replay(_ view: ClusterLoadView, map: ShardMap, settings: ControllerSettings, now: Double) throws
        -> (controller: PlacementController, newest: [ControllerDecision], earlier: [ControllerDecision], buckets: Int) {
        var settings = settings
        if let bucket = view.bucketSeconds { settings.bucketSeconds = bucket }
        var controller = try PlacementController(settings: settings, members: view.members, segmentCount: map.keying.segmentCount)
        let observations = ClusterLoadReader.observations(view.statuses, now: now)
        var newest: [ControllerDecision] = []
        var earlier: [ControllerDecision] = []
        for (index, observation) in observations.enumerated() {
            let result = controller.observe(observation, map: map)
            for case .prepareMove(let move, _, _, _) in result.actions { controller.movePrepared(move, at: now) }
            if index == observations.count - 1 { newest = result.decisions } else { earlier += result.decisions }
        }
        return (controller, newest, earlier, observations.count)
    }

    /// `predict_access_pattern(segment)`: nil while the nodes hold less than a season and a bucket of
    /// history (or the policy does not forecast).
    public static func predictAccessPattern(segment: SegmentID, view: ClusterLoadView, map: ShardMap, settings: ControllerSettings,
                                            now: Double) throws -> AccessPatternForecast? {
        var predictive = settings
        predictive.policy = .predictive
        let replayed = try replay(view, map: map, settings: predictive, now: now)
        return replayed.controller.predictAccessPattern(segment: segment, at: now)
    }

    /// Forecast against actual load of the `count` segments with the most requests in the newest
    /// complete bucket: the forecast the predictive policy made for that bucket from the buckets
    /// before it, the requests counted in it, and the forecast for the bucket after it (all zones
    /// added up). Empty while the nodes hold less than a season and a bucket of history.
    public struct ForecastAgainstActual: Sendable, Hashable {
        public var segment: SegmentID
        public var shard: ShardID
        public var bucket: Int64
        public var forecast: Double
        public var actual: Double
        public var next: Double
    }

    public static func forecastAgainstActual(view: ClusterLoadView, map: ShardMap, settings: ControllerSettings, now: Double,
                                             count: Int = 8) throws -> [ForecastAgainstActual] {
        var predictive = settings
        predictive.policy = .predictive
        let replayed = try replay(view, map: map, settings: predictive, now: now)
        let observations = ClusterLoadReader.observations(view.statuses, now: now)
        guard let newest = observations.last else { return [] }
        let bucketSeconds = view.bucketSeconds ?? settings.bucketSeconds
        let hottest = newest.requests.map { ($0.key, $0.value.values.reduce(0, +)) }.sorted { ($0.1, $1.0) > ($1.1, $0.0) }.prefix(count)
        return hottest.compactMap { segment, actual in
            guard let forecast = replayed.controller.predictAccessPattern(segment: segment, at: Double(newest.bucket) * bucketSeconds),
                  let first = forecast.requests.first else { return nil }
            let next = forecast.requests.count > 1 ? forecast.requests[1].reduce(0, +) : 0
            return ForecastAgainstActual(segment: segment, shard: map.shard(ofSegment: segment) ?? 0, bucket: newest.bucket, forecast: first.reduce(0, +), actual: actual, next: next)
        }
    }

    /// `plan_migration(shard)`: what the policy would do with this shard now, and why.
    public static func planMigration(shard: ShardID, view: ClusterLoadView, map: ShardMap, settings: ControllerSettings,
                                     now: Double) throws -> MigrationPlanPreview {
        let replayed = try replay(view, map: map, settings: settings, now: now)
        return MigrationPlanPreview(
            shard: shard, policy: replayed.controller.policyName, bucketsReplayed: replayed.buckets,
            decisions: replayed.newest.filter { $0.shard == shard }, earlier: replayed.earlier.filter { $0.shard == shard })
    }
}
