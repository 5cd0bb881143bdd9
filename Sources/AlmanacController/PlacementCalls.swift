import AlmanacClient
import AlmanacControl
import AlmanacCoordinator
import AlmanacKeyspace
import struct AlmanacPlacement.ReshardingConfig
import AlmanacShardMap
import AlmanacWire
import Foundation
import Logging

/// A placement call refused or failed: the client protocol's code and a message.
public struct PlacementCallError: Error, Sendable, CustomStringConvertible {
    public var code: Almanac_Api_V1_ErrorCode
    public var message: String

    public init(_ code: Almanac_Api_V1_ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The seed's placement API answered by a node over the client protocol (`PlacementRequest`,
/// docs/controller.md): `predict_access_pattern(key)`, `plan_migration(key)`,
/// `execute_migration(plan)`, `get_shard_location(key)` and `trigger_resharding()`.
///
/// Each call reads what the controller reads (every node's access monitor over the client protocol,
/// the map store, the controller lease's settings) and acts, when it acts, through the same drivers
/// the controller and `ctl` use. The drivers' protocols are fenced by the map's compare-and-swap and
/// refuse a shard that is already moving, so a call racing the controller cannot corrupt anything.
public actor PlacementCalls {
    let store: any ShardMapStore & ControlRecordStore
    let configuration: AlmanacClientConfiguration
    /// The settings when no controller has run yet (the node's own `--controller-*` options).
    let settings: ControllerSettings
    let logger: Logger
    private var client: AlmanacClient?
    private var reader: ClusterLoadReader?

    /// `configuration`: how this node reaches the cluster (its admin token and TLS).
    public init(store: any ShardMapStore & ControlRecordStore, configuration: AlmanacClientConfiguration, settings: ControllerSettings,
                logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.settings = settings
        self.logger = logger
    }

    public func shutdown() async {
        await client?.shutdown()
        await reader?.shutdown()
        client = nil
        reader = nil
    }

    /// Answers one call (never throws: a failure is a typed error for the response).
    public func answer(_ request: Almanac_Api_V1_PlacementRequest) async -> Result<Almanac_Api_V1_PlacementResponse, PlacementCallError> {
        do {
            var response = Almanac_Api_V1_PlacementResponse()
            switch request.call {
            case .predictAccessPattern(let call)?: response.forecast = try await predict(inode: call.inode)
            case .planMigration(let call)?: response.plan = try await plan(inode: call.inode)
            case .executeMigration(let call)?: response.migration = try await execute(call)
            case .getShardLocation(let call)?: response.location = try await location(inode: call.inode)
            case .triggerResharding(let call)?: response.resharding = try await trigger(call)
            case nil: throw PlacementCallError(.einval, "placement needs a call")
            }
            return .success(response)
        } catch let error as PlacementCallError {
            return .failure(error)
        } catch {
            return .failure(PlacementCallError(.unavailable, "\(error)"))
        }
    }

    // MARK: - Inputs

    private func map() async throws -> ShardMap {
        let loaded: VersionedShardMap?
        do { loaded = try await store.load() } catch { throw PlacementCallError(.unavailable, "shard map store: \(error)") }
        guard let map = loaded?.map else { throw PlacementCallError(.unavailable, "no shard map stored for this cluster") }
        return map
    }

    /// The key's segment and shard: an inode's segment is its directory's (docs/sharding.md).
    private func key(_ inode: UInt64, in map: ShardMap) throws -> (segment: SegmentID, shard: ShardID) {
        guard inode != 0 else { throw PlacementCallError(.einval, "the key must be an inode id (not 0)") }
        let segment = InodeID(inode).segment
        guard let shard = map.shard(ofSegment: segment) else {
            throw PlacementCallError(.einval, "inode \(inode)'s segment \(segment) is outside the shard map")
        }
        return (segment, shard)
    }

    /// The controller lease's settings (its holder's), or this node's when none ran yet.
    private func currentSettings() async -> ControllerSettings {
        guard let record = try? await store.loadRecord(.controllerLease), let lease = try? ControllerLease.decode(record.bytes) else {
            return settings
        }
        return lease.settings ?? settings
    }

    private func view() async throws -> ClusterLoadView {
        let reader = self.reader ?? ClusterLoadReader(configuration: configuration)
        self.reader = reader
        do { return try await reader.read() } catch { throw PlacementCallError(.unavailable, "reading the nodes' access monitors: \(error)") }
    }

    private func cluster() -> AlmanacClient {
        if let client { return client }
        let made = AlmanacClient(configuration: configuration)
        client = made
        return made
    }

    // MARK: - Calls

    private func predict(inode: UInt64) async throws -> Almanac_Api_V1_AccessPatternForecast {
        let map = try await map()
        let (segment, shard) = try key(inode, in: map)
        let settings = await currentSettings()
        let view = try await view()
        let forecast: AccessPatternForecast?
        do {
            forecast = try ControllerQueries.predictAccessPattern(segment: segment, view: view, map: map, settings: settings,
                                                                  now: Date().timeIntervalSince1970)
        } catch {
            throw PlacementCallError(.einval, "\(error)")
        }
        var wire = Almanac_Api_V1_AccessPatternForecast()
        wire.segment = UInt32(segment)
        wire.shardID = UInt32(shard)
        guard let forecast else {
            // An answer, not an error: retrying soon would not help.
            wire.bucketSeconds = view.bucketSeconds ?? settings.bucketSeconds
            wire.noForecast = "not enough history to forecast segment \(segment): the forecasters need "
                + "\(settings.seasonBuckets + 1) complete buckets of \(Int(wire.bucketSeconds)) s with requests"
            return wire
        }
        wire.zones = forecast.zones
        wire.bucketSeconds = forecast.bucketSeconds
        wire.startTime = forecast.startTime
        wire.writeFraction = forecast.writeFraction
        wire.steps = forecast.requests.indices.map { step in
            var one = Almanac_Api_V1_ForecastStep()
            one.requests = forecast.requests[step]
            one.lower = forecast.lower.indices.contains(step) ? forecast.lower[step] : []
            one.upper = forecast.upper.indices.contains(step) ? forecast.upper[step] : []
            return one
        }
        return wire
    }

    private func plan(inode: UInt64) async throws -> Almanac_Api_V1_MigrationPlan {
        let map = try await map()
        let (_, shard) = try key(inode, in: map)
        let settings = await currentSettings()
        let view = try await view()
        let preview: ControllerQueries.MigrationPlanPreview
        do {
            preview = try ControllerQueries.planMigration(shard: shard, view: view, map: map, settings: settings, now: Date().timeIntervalSince1970)
        } catch {
            throw PlacementCallError(.einval, "\(error)")
        }
        var wire = Almanac_Api_V1_MigrationPlan()
        wire.shardID = UInt32(preview.shard)
        wire.policy = preview.policy
        wire.bucketsReplayed = UInt32(clamping: preview.bucketsReplayed)
        wire.decisions = preview.decisions.map(Self.wire)
        wire.earlier = preview.earlier.map(Self.wire)
        return wire
    }

    static func wire(_ decision: ControllerDecision) -> Almanac_Api_V1_PlacementDecision {
        var wire = Almanac_Api_V1_PlacementDecision()
        wire.time = decision.time
        wire.policy = decision.policy
        wire.action = decision.action
        wire.shardID = UInt32(decision.shard)
        wire.fromLeaderNodeID = decision.fromLeader ?? 0
        wire.toLeaderNodeID = decision.toLeader ?? 0
        wire.fromNodeIds = decision.fromNodes
        wire.toNodeIds = decision.toNodes
        if let value = decision.forecastRequests { wire.forecastRequests = value }
        if let value = decision.predictedGainOpMs { wire.predictedGainOpMs = value }
        if let value = decision.costOpMs { wire.costOpMs = value }
        if let value = decision.confidence { wire.confidence = value }
        wire.reason = decision.reason
        return wire
    }

    private func execute(_ call: Almanac_Api_V1_ExecuteMigrationCall) async throws -> Almanac_Api_V1_MigrationOutcome {
        guard let shard = ShardID(exactly: call.shardID) else { throw PlacementCallError(.einval, "shard id \(call.shardID) is out of range (16 bits)") }
        guard call.targetNodeID != 0 else { throw PlacementCallError(.einval, "the plan needs a target node") }
        guard call.sourceNodeID != call.targetNodeID else { throw PlacementCallError(.einval, "the source and the target are the same node") }
        let view = try await view()
        let client = cluster()
        let driver = ReplicaMigrationDriver(
            transport: ClientReplicaAdminTransport(client: client, addresses: view.addresses, nodeConfiguration: configuration),
            store: store, clock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        let plan = ReplicaMigrationPlan(shard: shard, target: call.targetNodeID, source: call.sourceNodeID == 0 ? nil : call.sourceNodeID,
                                        transferLeadership: call.transferLeadership)
        let report: MigrationReport
        do {
            report = try await driver.executeMigration(plan, members: view.members, down: view.down)
        } catch let error as MigrationError {
            switch error {
            case .invalid(let message): throw PlacementCallError(.einval, message)
            case .rolledBack(let why):
                var wire = Almanac_Api_V1_MigrationOutcome()
                wire.shardID = UInt32(shard)
                wire.outcome = "rolled back"
                wire.sourceNodeID = call.sourceNodeID
                wire.targetNodeID = call.targetNodeID
                wire.detail = why
                return wire
            case .interrupted: throw PlacementCallError(.unavailable, error.description + " (the intent stays in the map: the controller or `ctl migrate --resume` finishes it)")
            case .superseded: throw PlacementCallError(.unavailable, error.description)
            }
        }
        logger.notice("placement call: execute_migration of shard \(shard) to node \(call.targetNodeID): \(report.outcome.rawValue)")
        var wire = Almanac_Api_V1_MigrationOutcome()
        wire.migrationID = report.intent.id
        wire.shardID = UInt32(report.intent.shard)
        wire.outcome = report.outcome.rawValue
        wire.sourceNodeID = report.intent.source.node
        wire.targetNodeID = report.intent.target.node
        wire.leaderNodeID = report.progress.leader
        wire.snapshotBytes = report.progress.snapshotBytes
        wire.catchUpSeconds = report.progress.catchUpSeconds
        wire.mapEpoch = report.mapEpoch
        return wire
    }

    private func location(inode: UInt64) async throws -> Almanac_Api_V1_ShardLocation {
        let map = try await map()
        let (segment, shard) = try key(inode, in: map)
        guard let record = map.shards[shard] else { throw PlacementCallError(.unavailable, "the map names shard \(shard) but has no record of it") }
        // Every node's status (a node reports the shards it hosts): the addresses, and the leader
        // of the newest term the shard's replicas report, fresher than the map's hint.
        var addresses: [NodeID: String] = [:]
        var liveLeader: (term: UInt64, node: NodeID) = (0, 0)
        if let view = try? await view() {
            addresses = view.addresses
            for status in view.statuses {
                for hosted in status.shards where hosted.shardID == UInt64(shard) && hosted.leaderNodeID != 0 && hosted.term >= liveLeader.term {
                    liveLeader = (hosted.term, hosted.leaderNodeID)
                }
            }
        }
        var wire = Almanac_Api_V1_ShardLocation()
        wire.segment = UInt32(segment)
        wire.shard = record.wire(clientAddresses: addresses)
        // The cluster's view of the leader is fresher than the map's hint.
        if liveLeader.node != 0 { wire.shard.leaderHint = liveLeader.node }
        wire.mapEpoch = map.epoch
        wire.moving = map.migrations.contains { $0.shard == shard } || map.handoffs.contains { $0.source == shard || $0.target == shard }
        return wire
    }

    private func trigger(_ call: Almanac_Api_V1_TriggerReshardingCall) async throws -> Almanac_Api_V1_ReshardingOutcome {
        guard call.splitThresholdOpsPerSec >= 0, call.splitThresholdOpsPerSec.isFinite else {
            throw PlacementCallError(.einval, "the split threshold must be a finite number >= 0")
        }
        let settings = await currentSettings()
        let threshold = call.splitThresholdOpsPerSec > 0 ? call.splitThresholdOpsPerSec : (settings.splitThresholdOpsPerSec ?? 500)
        let config: ReshardingConfig
        do { config = try ReshardingConfig(splitThresholdOpsPerSec: threshold, cooldownSeconds: 0) } catch { throw PlacementCallError(.einval, "\(error)") }
        let map = try await map()
        let view = try await view()
        let report: ReshardingReport
        do {
            report = try ReshardingAdvisor.evaluate(map: map, series: view.segmentSeries, bucketSeconds: max(1, view.bucketSeconds ?? settings.bucketSeconds),
                                                    config: config)
        } catch {
            throw PlacementCallError(.einval, "trigger_resharding: \(error)")
        }
        var wire = Almanac_Api_V1_ReshardingOutcome()
        wire.evaluatedBuckets = UInt32(clamping: report.evaluatedBuckets)
        wire.bucketSeconds = report.bucketSeconds
        wire.splitThresholdOpsPerSec = report.splitThresholdOpsPerSec
        wire.mergeBelowOpsPerSec = report.mergeBelowOpsPerSec
        wire.decisions = report.decisions.map { decision in
            var one = Almanac_Api_V1_ReshardingDecision()
            one.kind = decision.kind.rawValue
            one.shardID = UInt32(decision.shard)
            one.segment = UInt32(decision.segment)
            one.otherShardID = UInt32(decision.otherShard ?? 0)
            one.loadOpsPerSec = decision.loadOpsPerSec
            one.reason = decision.reason
            return one
        }
        if !call.dryRun, let first = report.decisions.first {
            wire.executed = await carryOut(first, map: map, view: view)
        }
        return wire
    }

    /// One split or merge by segment hand-off, as the controller carries it out.
    private func carryOut(_ decision: ReshardingDecision, map: ShardMap, view: ClusterLoadView) async -> String {
        let handoff = SegmentHandoffDriver(transport: ClientTransactionTransport(client: cluster(), host: nil), store: store,
                                           clock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        let segments: [SegmentID]
        let target: ShardID
        switch decision.kind {
        case .split:
            // An empty shard of the map, or a new one (a new Raft group).
            let creation = ShardCreationDriver(
                transport: ClientReplicaAdminTransport(client: cluster(), addresses: view.addresses, nodeConfiguration: configuration), store: store)
            do {
                target = try await creation.splitTarget(members: view.members)
            } catch {
                return "failed: no shard to split into: \(error)"
            }
            segments = (Int(decision.segment)..<map.keying.segmentCount).map { SegmentID($0) }.filter { map.shard(ofSegment: $0) == decision.shard }
        case .merge:
            guard let other = decision.otherShard else { return "skipped: the merge names no shard" }
            segments = (0..<map.keying.segmentCount).map { SegmentID($0) }.filter { map.shard(ofSegment: $0) == other }
            target = decision.shard
        }
        do {
            let report = try await handoff.move(segments: segments, to: target)
            logger.notice("placement call: trigger_resharding \(decision.kind.rawValue) of shard \(decision.shard): \(report.outcome.rawValue)")
            return "\(report.outcome.rawValue): \(segments.count) segments from shard \(report.intent.source) to shard \(report.intent.target); map epoch \(report.mapEpoch)"
        } catch {
            return "failed: \(error)"
        }
    }
}

extension ClusterLoadView {
    /// Every node's requests per segment and complete bucket, added up and aligned at the newest
    /// bucket (the series `trigger_resharding` reads).
    public var segmentSeries: [SegmentID: [UInt64]] { Self.segmentSeries(statuses) }

    /// `statuses`' requests per segment and complete bucket, added up and aligned at the newest bucket.
    public static func segmentSeries(_ statuses: [ClusterStatus]) -> [SegmentID: [UInt64]] {
        var total: [SegmentID: [UInt64]] = [:]
        for status in statuses {
            for load in status.segmentLoads where !load.buckets.isEmpty {
                guard let segment = SegmentID(exactly: load.segment) else { continue }
                var series = total[segment] ?? []
                if series.count < load.buckets.count { series = [UInt64](repeating: 0, count: load.buckets.count - series.count) + series }
                let offset = series.count - load.buckets.count
                for (index, count) in load.buckets.enumerated() { series[offset + index] += count }
                total[segment] = series
            }
        }
        return total
    }
}
