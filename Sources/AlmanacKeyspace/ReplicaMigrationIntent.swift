/// A replica migration in progress (docs/migration.md, "Replica migration"): one replica of a shard
/// moves from a source node to a target node, in the same zone or into a zone that holds none of
/// the shard's replicas. Recorded in the shard map before anything moves (prepare) and removed when
/// it ended. Whoever drives or resumes it reads it from the map store and the shard's Raft
/// configuration: before the swap (the target a voter and the source not) it rolls back; after it,
/// forward.
///
/// The intent also names its driver and when that driver last showed it was alive (`driver`,
/// `heartbeat`): a resume leaves an intent alone while its driver is alive, and a driver that finds
/// its intent taken over or gone stops and withdraws what it added (docs/migration.md, "Two
/// drivers").
public struct ReplicaMigrationIntent: Sendable, Hashable, Codable {
    public enum Phase: String, Sendable, Hashable, Codable {
        /// Recorded; the target may be joining as a learner. Nothing is decided.
        case preparing
        /// The Raft configuration swapped the target in for the source and the map names the
        /// target; the source's replica is still to be dropped.
        case committed
    }

    /// The migration id: unique for the cluster's life (random, like hand-off ids).
    public var id: UInt64
    public var shard: ShardID
    /// The replica that leaves.
    public var source: ReplicaLocation
    /// The replica that joins.
    public var target: ReplicaLocation
    /// Whether the target takes the shard's leadership once it is a voter.
    public var transferLeadership: Bool
    public var phase: Phase
    /// Wall-clock milliseconds when the intent was recorded: the `migration_timestamp` the shard's
    /// journal entries carry from the commit on.
    public var migrationTimestamp: UInt64
    /// The token of the driver that owns the intent (nil: recorded before drivers had tokens; any
    /// driver may take it over).
    public var driver: UInt64?
    /// Wall-clock milliseconds of its driver's last sign of life (nil: the migration timestamp).
    public var heartbeat: UInt64?

    public init(id: UInt64, shard: ShardID, source: ReplicaLocation, target: ReplicaLocation, transferLeadership: Bool,
                phase: Phase, migrationTimestamp: UInt64, driver: UInt64? = nil, heartbeat: UInt64? = nil) {
        self.id = id
        self.shard = shard
        self.source = source
        self.target = target
        self.transferLeadership = transferLeadership
        self.phase = phase
        self.migrationTimestamp = migrationTimestamp
        self.driver = driver
        self.heartbeat = heartbeat
    }

    /// Milliseconds since its driver's last sign of life, at wall-clock `now` (0 if in the future).
    public func silence(at now: UInt64) -> UInt64 {
        let last = heartbeat ?? migrationTimestamp
        return now > last ? now - last : 0
    }

    /// The same intent without its driver's liveness: what the migration is, not who drives it.
    public var withoutLiveness: ReplicaMigrationIntent {
        var copy = self
        copy.driver = nil
        copy.heartbeat = nil
        return copy
    }
}

extension ShardMap {
    /// Records `intent` (phase `preparing`). Refused, with nothing changed, when the shard is
    /// unknown or busy (another migration, or a segment hand-off involving it), the source is not
    /// one of its replicas, the target already is, or the target's zone already holds a replica
    /// other than the source's (one replica per zone). `knownNodes`: the cluster's members.
    public mutating func recordMigration(_ intent: ReplicaMigrationIntent, knownNodes: [NodeID: ZoneName]) throws(KeyspaceError) {
        guard let record = shards[intent.shard] else { throw KeyspaceError.invalid("shard \(intent.shard) does not exist") }
        guard record.replicas.contains(intent.source) else {
            throw KeyspaceError.invalid("node \(intent.source.node) holds no replica of shard \(intent.shard) (its replicas: \(Self.describe(record.replicas)))")
        }
        guard let zone = self.knownNodes(knownNodes)[intent.target.node] else {
            throw KeyspaceError.invalid("node \(intent.target.node) is not a member of the cluster")
        }
        guard zone == intent.target.zone else {
            throw KeyspaceError.invalid("node \(intent.target.node) is in zone \(zone), not \(intent.target.zone)")
        }
        guard !record.replicas.contains(where: { $0.node == intent.target.node }) else {
            throw KeyspaceError.invalid("node \(intent.target.node) already holds a replica of shard \(intent.shard)")
        }
        if let other = record.replicas.first(where: { $0.zone == intent.target.zone && $0 != intent.source }) {
            throw KeyspaceError.invalid("zone \(intent.target.zone) already holds shard \(intent.shard)'s replica on node \(other.node) (one replica per zone)")
        }
        if let busy = migrations.first(where: { $0.shard == intent.shard }) {
            throw KeyspaceError.invalid("shard \(intent.shard) is already migrating (migration \(busy.id): node \(busy.source.node) -> \(busy.target.node))")
        }
        if let busy = handoffs.first(where: { $0.source == intent.shard || $0.target == intent.shard }) {
            throw KeyspaceError.invalid("shard \(intent.shard) is in segment hand-off \(busy.id) (shard \(busy.source) -> \(busy.target))")
        }
        migrations.append(intent)
        bumpEpoch()
    }

    /// The commit of migration `id`: the shard's replicas name the target instead of the source
    /// (the leader hint follows a planned transfer), its epoch is bumped and its migration timestamp
    /// stamped. The intent stays, `committed`, until the source's replica is dropped.
    public mutating func commitMigration(_ id: UInt64) throws(KeyspaceError) {
        guard let index = migrations.firstIndex(where: { $0.id == id }) else { throw KeyspaceError.invalid("no migration \(id) in the map") }
        guard migrations[index].phase == .preparing else { return }
        let intent = migrations[index]
        guard var record = shards[intent.shard] else { throw KeyspaceError.invalid("shard \(intent.shard) does not exist") }
        let replicas = record.replicas.filter { $0 != intent.source } + [intent.target]
        record = ShardRecord(id: record.id, replicas: replicas,
                             leaderHint: intent.transferLeadership ? intent.target.node : (record.leaderHint == intent.source.node ? 0 : record.leaderHint),
                             epoch: record.epoch + 1, migrationTimestamp: max(record.migrationTimestamp, intent.migrationTimestamp))
        shards[intent.shard] = record
        migrations[index].phase = .committed
        bumpEpoch()
    }

    /// Driver `driver` is alive at wall-clock `now`: the heartbeat of migration `id`. Refused when
    /// the intent is gone (the migration ended, or another driver rolled it back) or another
    /// driver took it over. Not a change of placement: the epoch stays.
    public mutating func touchMigration(_ id: UInt64, driver: UInt64, at now: UInt64) throws(KeyspaceError) {
        guard let index = migrations.firstIndex(where: { $0.id == id }) else {
            throw KeyspaceError.invalid("migration \(id) is no longer in the map (it ended, or another driver rolled it back)")
        }
        if let owner = migrations[index].driver, owner != driver {
            throw KeyspaceError.invalid("migration \(id) was taken over by driver \(String(owner, radix: 16))")
        }
        migrations[index].driver = driver
        migrations[index].heartbeat = max(migrations[index].heartbeat ?? 0, now)
    }

    /// Driver `driver` takes migration `id` over at wall-clock `now`, to finish or roll it back.
    /// Refused while another driver owns it and showed a sign of life within `liveWindow`
    /// milliseconds (nil: taken regardless, for a driver known to be dead). Not a change of
    /// placement: the epoch stays.
    public mutating func takeOverMigration(_ id: UInt64, driver: UInt64, at now: UInt64, liveWindow: UInt64?) throws(KeyspaceError) {
        guard let index = migrations.firstIndex(where: { $0.id == id }) else {
            throw KeyspaceError.invalid("migration \(id) is no longer in the map")
        }
        let intent = migrations[index]
        if let liveWindow, let owner = intent.driver, owner != driver, intent.silence(at: now) < liveWindow {
            throw KeyspaceError.invalid("migration \(id) is driven by driver \(String(owner, radix: 16)), alive \(intent.silence(at: now)) ms ago")
        }
        migrations[index].driver = driver
        migrations[index].heartbeat = now
    }

    /// Removes the intent of migration `id` (no-op if absent).
    public mutating func clearMigration(_ id: UInt64) {
        guard let index = migrations.firstIndex(where: { $0.id == id }) else { return }
        migrations.remove(at: index)
        bumpEpoch()
    }

    /// The map without its migration drivers' liveness (what placement it describes): two maps
    /// that differ only by heartbeats are equal here.
    public var withoutDriverLiveness: ShardMap {
        var copy = self
        copy.migrations = migrations.map(\.withoutLiveness)
        return copy
    }

    /// The intent of migration `id`.
    public func migration(_ id: UInt64) -> ReplicaMigrationIntent? { migrations.first { $0.id == id } }

    static func describe(_ replicas: [ReplicaLocation]) -> String {
        replicas.map { "node \($0.node) in \($0.zone)" }.joined(separator: ", ")
    }
}
