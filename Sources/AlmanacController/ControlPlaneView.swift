import AlmanacClient
import AlmanacControl
import AlmanacKeyspace
import AlmanacShardMap
import Foundation

/// What the live console shows of the placement control plane (docs/operations.md "Console"):
/// who runs the controller, forecast against actual load of the hottest segments, the moves in
/// flight (the intents in the map) and the newest decisions of the audit.
public struct ControlPlaneView: Sendable {
    public struct Move: Sendable, Hashable {
        public var kind: String
        public var subject: String
        public var from: String
        public var to: String
        public var phase: String
        /// Wall-clock milliseconds of the move's migration timestamp.
        public var sinceMillis: UInt64
    }

    /// "node 3 holds the controller lease (term 2, active, predictive)", or why nobody does.
    public var controller: String
    /// Nil while there is no forecast (then `forecastNote` says why).
    public var forecast: [ControllerQueries.ForecastAgainstActual]?
    public var forecastNote: String?
    public var moves: [Move]
    /// Newest first.
    public var audit: [ControllerDecision]
}

/// Builds a ``ControlPlaneView`` from the map store and the nodes' statuses the console already
/// read. The forecast replays the nodes' buckets (as `predict_access_pattern` does), so it is
/// computed once per new complete bucket and kept until the next one.
public actor ControlPlanePanes {
    let store: any ShardMapStore & ControlRecordStore
    let settings: ControllerSettings
    private var cached: (bucket: Int64, forecast: [ControllerQueries.ForecastAgainstActual])?

    /// `settings`: the node's own controller settings (used while no lease names the holder's).
    public init(store: any ShardMapStore & ControlRecordStore, settings: ControllerSettings) {
        self.store = store
        self.settings = settings
    }

    public func view(statuses: [ClusterStatus], now: Date = Date(), auditCount: Int = 12) async -> ControlPlaneView {
        let lease = (try? await store.loadRecord(.controllerLease)).flatMap { $0 }.flatMap { try? ControllerLease.decode($0.bytes) }
        let nowMillis = UInt64(now.timeIntervalSince1970 * 1000)
        let controller: String
        if let lease, lease.expiresAtMillis > nowMillis {
            controller = "node \(lease.holder) holds the controller lease (term \(lease.term), \(lease.mode.rawValue), "
                + "\((lease.settings ?? settings).policy.rawValue))"
        } else if let lease {
            controller = "no controller: node \(lease.holder)'s lease (term \(lease.term)) expired; another node takes it over"
        } else {
            controller = "no controller has run yet"
        }
        let map = (try? await store.load())?.map
        var moves: [ControlPlaneView.Move] = []
        for intent in map?.handoffs ?? [] {
            let first = intent.segments.min() ?? 0
            let last = intent.segments.max() ?? 0
            moves.append(.init(kind: "segment hand-off", subject: "\(intent.segments.count) segments \(first)-\(last)", from: "shard \(intent.source)",
                               to: "shard \(intent.target)", phase: intent.phase.rawValue, sinceMillis: intent.migrationTimestamp))
        }
        for intent in map?.migrations ?? [] {
            moves.append(.init(kind: intent.transferLeadership ? "replica and leadership" : "replica migration", subject: "shard \(intent.shard)",
                               from: "node \(intent.source.node) (\(intent.source.zone))", to: "node \(intent.target.node) (\(intent.target.zone))",
                               phase: intent.phase.rawValue, sinceMillis: intent.migrationTimestamp))
        }
        let audit = ((try? await ControllerAuditLog.load(store)) ?? []).suffix(auditCount).reversed()
        var forecast: [ControllerQueries.ForecastAgainstActual]?
        var note: String?
        let observations = ClusterLoadReader.observations(statuses, now: now.timeIntervalSince1970)
        let effective = lease?.settings ?? settings
        if let newest = observations.last?.bucket, let map {
            if let cached, cached.bucket == newest {
                forecast = cached.forecast
            } else {
                let nodes = statuses.first?.nodes ?? []
                let view = ClusterLoadView(members: Dictionary(nodes.map { ($0.nodeID, $0.zone) }, uniquingKeysWith: { first, _ in first }),
                                           addresses: Dictionary(nodes.map { ($0.nodeID, $0.clientAddress) }, uniquingKeysWith: { first, _ in first }),
                                           down: [], statuses: statuses)
                let computed = (try? ControllerQueries.forecastAgainstActual(view: view, map: map, settings: effective, now: now.timeIntervalSince1970)) ?? []
                cached = (newest, computed)
                forecast = computed
            }
        }
        if forecast?.isEmpty ?? true {
            forecast = nil
            note = "no forecast yet: the forecasters need \(effective.seasonBuckets + 1) complete buckets of "
                + "\(Int(statuses.first { $0.accessBucketSeconds > 0 }.map { Double($0.accessBucketSeconds) } ?? effective.bucketSeconds)) s with requests"
        }
        return ControlPlaneView(controller: controller, forecast: forecast, forecastNote: note, moves: moves, audit: Array(audit))
    }
}
