/// One replica of a shard: the node that hosts it and that node's zone.
public struct ReplicaLocation: Sendable, Hashable, Codable {
    public var node: NodeID
    public var zone: ZoneName

    public init(node: NodeID, zone: ZoneName) {
        self.node = node
        self.zone = zone
    }
}

/// The map's record of one shard: its replicas (one per zone), a leader hint and its epoch.
public struct ShardRecord: Sendable, Hashable, Codable {
    public var id: ShardID
    /// Voters, sorted by zone; at most one per zone.
    public var replicas: [ReplicaLocation]
    /// The last leader the map heard of; 0 when unknown. A hint only: routing follows NOT_LEADER.
    public var leaderHint: NodeID
    /// Bumped whenever this shard's segments, replicas or leader change.
    public var epoch: Epoch
    /// Wall-clock milliseconds of the last hand-off or migration that changed this shard (0: none):
    /// the `migration_timestamp` its journal entries carry.
    public var migrationTimestamp: UInt64

    public init(id: ShardID, replicas: [ReplicaLocation], leaderHint: NodeID = 0, epoch: Epoch = 1, migrationTimestamp: UInt64 = 0) {
        self.id = id
        self.replicas = replicas.sorted { ($0.zone, $0.node) < ($1.zone, $1.node) }
        self.leaderHint = leaderHint
        self.epoch = epoch
        self.migrationTimestamp = migrationTimestamp
    }

    private enum CodingKeys: String, CodingKey { case id, replicas, leaderHint, epoch, migrationTimestamp }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try container.decode(ShardID.self, forKey: .id), replicas: try container.decode([ReplicaLocation].self, forKey: .replicas),
                  leaderHint: try container.decode(NodeID.self, forKey: .leaderHint), epoch: try container.decode(Epoch.self, forKey: .epoch),
                  migrationTimestamp: try container.decodeIfPresent(UInt64.self, forKey: .migrationTimestamp) ?? 0)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(replicas, forKey: .replicas)
        try container.encode(leaderHint, forKey: .leaderHint)
        try container.encode(epoch, forKey: .epoch)
        if migrationTimestamp != 0 { try container.encode(migrationTimestamp, forKey: .migrationTimestamp) }
    }
}

/// Where a key lives: the answer of `get_shard_location(key)`.
public struct ShardLocation: Sendable, Hashable {
    public var shard: ShardID
    public var segment: SegmentID
    public var leader: NodeID
    public var replicas: [ReplicaLocation]
    /// The shard's epoch.
    public var epoch: Epoch
    /// The whole map's epoch.
    public var mapEpoch: Epoch
}

/// The shard map: segment -> shard, shard -> replicas, leader hints, and epochs.
///
/// A plain value. The shard map service (module AlmanacShardMap) stores it in the embedded system
/// group or in etcd and hands it to nodes and clients; routers cache it. Every change bumps
/// ``epoch`` and the epoch of every shard whose record or segments changed.
public struct ShardMap: Sendable, Hashable {
    public let keying: SegmentKeying
    /// Version of the whole map.
    public private(set) var epoch: Epoch
    /// `owners[segment]` is the shard owning the segment.
    public private(set) var owners: [ShardID]
    /// The shards, by id.
    public internal(set) var shards: [ShardID: ShardRecord]
    /// Segment hand-offs in progress (docs/migration.md); empty almost always.
    public internal(set) var handoffs: [SegmentHandoffIntent] = []
    /// Replica migrations in progress (docs/migration.md); empty almost always.
    public internal(set) var migrations: [ReplicaMigrationIntent] = []
    /// Nodes added to the cluster at runtime (`ctl node add`), by id; the founding members are in
    /// every node's configuration (``members(founding:)``).
    public internal(set) var joinedMembers: [ClusterMember] = []
    /// Nodes removed from the cluster (`ctl node remove`), ascending. Their ids are never reused.
    public internal(set) var removedNodes: [NodeID] = []

    /// A map from explicit parts, validated (see ``validate(knownNodes:)`` for the node check).
    public init(keying: SegmentKeying, epoch: Epoch, owners: [ShardID], shards: [ShardRecord]) throws(KeyspaceError) {
        guard epoch > 0 else { throw KeyspaceError.invalid("map epoch must be > 0") }
        guard owners.count == keying.segmentCount else {
            throw KeyspaceError.invalid("map assigns \(owners.count) segments, the keying has \(keying.segmentCount)")
        }
        var byID: [ShardID: ShardRecord] = [:]
        for shard in shards {
            guard byID.updateValue(shard, forKey: shard.id) == nil else {
                throw KeyspaceError.invalid("shard \(shard.id) appears twice in the map")
            }
            guard !shard.replicas.isEmpty else { throw KeyspaceError.invalid("shard \(shard.id) has no replicas") }
            guard Set(shard.replicas.map(\.zone)).count == shard.replicas.count else {
                throw KeyspaceError.invalid("shard \(shard.id) has two replicas in one zone")
            }
            guard Set(shard.replicas.map(\.node)).count == shard.replicas.count else {
                throw KeyspaceError.invalid("shard \(shard.id) lists a node twice")
            }
            if shard.leaderHint != 0 && !shard.replicas.contains(where: { $0.node == shard.leaderHint }) {
                throw KeyspaceError.invalid("shard \(shard.id) names leader \(shard.leaderHint), which is not one of its replicas")
            }
        }
        for (segment, owner) in owners.enumerated() where byID[owner] == nil {
            throw KeyspaceError.invalid("segment \(segment) is assigned to shard \(owner), which the map does not define")
        }
        self.keying = keying
        self.epoch = epoch
        self.owners = owners
        self.shards = byID
    }

    /// The initial map of a new cluster: `shardCount` shards, segments dealt out in contiguous
    /// ranges of equal size (new directories hash over all segments, so ranges spread them evenly
    /// and a later split cuts a range in two).
    public static func initial(
        keying: SegmentKeying, shardCount: Int, replicas: (ShardID) -> [ReplicaLocation]
    ) throws(KeyspaceError) -> ShardMap {
        guard (1...min(keying.segmentCount, Int(ShardID.max))).contains(shardCount) else {
            throw KeyspaceError.invalid("shard count \(shardCount) must be in 1...\(min(keying.segmentCount, Int(ShardID.max))) for \(keying.segmentCount) segments")
        }
        let owners = (0..<keying.segmentCount).map { ShardID($0 * shardCount / keying.segmentCount) }
        let shards = (0..<shardCount).map { ShardRecord(id: ShardID($0), replicas: replicas(ShardID($0))) }
        return try ShardMap(keying: keying, epoch: 1, owners: owners, shards: shards)
    }

    /// The shard owning `segment`.
    public func shard(ofSegment segment: SegmentID) -> ShardID? {
        Int(segment) < owners.count ? owners[Int(segment)] : nil
    }

    /// The shard owning the segment of `id`.
    public func shard(of id: InodeID) -> ShardID? { shard(ofSegment: id.segment) }

    /// The segments a shard owns, ascending.
    public func segments(of shard: ShardID) -> [SegmentID] {
        owners.indices.filter { owners[$0] == shard }.map { SegmentID($0) }
    }

    /// `get_shard_location(key)`: shard, leader hint, replicas and epochs of the segment of `id`.
    public func location(of id: InodeID) -> ShardLocation? { location(ofSegment: id.segment) }

    public func location(ofSegment segment: SegmentID) -> ShardLocation? {
        guard let shard = shard(ofSegment: segment), let record = shards[shard] else { return nil }
        return ShardLocation(shard: shard, segment: segment, leader: record.leaderHint, replicas: record.replicas,
                             epoch: record.epoch, mapEpoch: epoch)
    }

    /// Checks that every replica names a known node in its zone: one of `knownNodes` (the founding
    /// members, or more) or of ``joinedMembers``, and not one of ``removedNodes``.
    public func validate(knownNodes: [NodeID: ZoneName]) throws(KeyspaceError) {
        let knownNodes = self.knownNodes(knownNodes)
        for shard in shards.values.sorted(by: { $0.id < $1.id }) {
            for replica in shard.replicas {
                guard let zone = knownNodes[replica.node] else {
                    throw KeyspaceError.invalid("shard \(shard.id) names node \(replica.node), which is not a member of the cluster")
                }
                guard zone == replica.zone else {
                    throw KeyspaceError.invalid("shard \(shard.id) places node \(replica.node) in zone \(replica.zone), but the node is in zone \(zone)")
                }
            }
        }
    }

    // MARK: - Changes (each bumps the map epoch and the epochs of the shards it touches)

    /// Records `leader` as the leader hint of `shard` (no change if already so).
    public mutating func setLeaderHint(_ leader: NodeID, of shard: ShardID) throws(KeyspaceError) {
        guard var record = shards[shard] else { throw KeyspaceError.invalid("unknown shard \(shard)") }
        guard record.leaderHint != leader else { return }
        guard leader == 0 || record.replicas.contains(where: { $0.node == leader }) else {
            throw KeyspaceError.invalid("node \(leader) is not a replica of shard \(shard)")
        }
        record.leaderHint = leader
        record.epoch += 1
        shards[shard] = record
        epoch += 1
    }

    /// Moves `segments` to shard `target` (creating it with `replicas` if it does not exist yet).
    public mutating func assign(_ segments: [SegmentID], to target: ShardID, replicas: [ReplicaLocation]? = nil) throws(KeyspaceError) {
        if shards[target] == nil {
            guard let replicas, !replicas.isEmpty else { throw KeyspaceError.invalid("new shard \(target) needs replicas") }
            shards[target] = ShardRecord(id: target, replicas: replicas, epoch: 0)
        }
        var touched: Set<ShardID> = [target]
        for segment in segments {
            guard Int(segment) < owners.count else { throw KeyspaceError.invalid("segment \(segment) does not exist") }
            touched.insert(owners[Int(segment)])
            owners[Int(segment)] = target
        }
        for shard in touched { shards[shard]?.epoch += 1 }
        // A shard left without segments stays defined (merge target bookkeeping is the caller's).
        epoch += 1
    }

    mutating func bumpEpoch() { epoch += 1 }

    /// The id a new shard gets: the next after every shard the map names. Ids are never reused:
    /// shards are never removed from the map, so a node never sees one id for two groups.
    public var nextShardID: ShardID? {
        guard let last = shards.keys.max(), last < ShardID.max else { return nil }
        return last + 1
    }

    /// Defines shard `id` (``nextShardID``), owning no segments yet (a split's target), with
    /// `replicas` one per zone.
    public mutating func addShard(_ id: ShardID, replicas: [ReplicaLocation]) throws(KeyspaceError) {
        guard id == nextShardID else { throw KeyspaceError.invalid("shard \(id) is not the next free shard id (\(nextShardID.map(String.init) ?? "none"))") }
        guard !replicas.isEmpty else { throw KeyspaceError.invalid("a new shard needs replicas") }
        guard Set(replicas.map(\.zone)).count == replicas.count else { throw KeyspaceError.invalid("a new shard has two replicas in one zone") }
        guard Set(replicas.map(\.node)).count == replicas.count else { throw KeyspaceError.invalid("a new shard lists a node twice") }
        shards[id] = ShardRecord(id: id, replicas: replicas, epoch: 1)
        epoch += 1
    }

    /// Replicas for a new shard: in each zone, the node that holds the fewest replicas of the
    /// map's shards (the lowest id on a tie); as many zones as the map's shards span, at least
    /// `minimumZones` when the members have them. Deterministic, so that a retry picks the same.
    public func placementForNewShard(members: [NodeID: ZoneName], replicasPerShard: Int) -> [ReplicaLocation] {
        var held: [NodeID: Int] = [:]
        for record in shards.values { for replica in record.replicas { held[replica.node, default: 0] += 1 } }
        var byZone: [ZoneName: [NodeID]] = [:]
        for (node, zone) in members { byZone[zone, default: []].append(node) }
        let candidates = byZone.map { zone, nodes in
            (zone: zone, node: nodes.min { (held[$0] ?? 0, $0) < (held[$1] ?? 0, $1) } ?? 0)
        }
        // The least loaded zones first (by their chosen node's load), then by name.
        let chosen = candidates.sorted { (held[$0.node] ?? 0, $0.zone) < (held[$1.node] ?? 0, $1.zone) }.prefix(replicasPerShard)
        return chosen.map { ReplicaLocation(node: $0.node, zone: $0.zone) }.sorted { $0.zone < $1.zone }
    }

    /// Sets the intents of protocols in progress as a stored or transmitted map carries them
    /// (decoding only: changes go through `recordHandoff`, `recordMigration` and their kin).
    public mutating func restoreIntents(handoffs: [SegmentHandoffIntent], migrations: [ReplicaMigrationIntent]) throws(KeyspaceError) {
        for intent in handoffs where shards[intent.source] == nil || shards[intent.target] == nil
            || intent.segments.contains(where: { Int($0) >= keying.segmentCount }) {
            throw KeyspaceError.invalid("hand-off \(intent.id) names an unknown shard or segment")
        }
        for intent in migrations where shards[intent.shard] == nil {
            throw KeyspaceError.invalid("migration \(intent.id) names unknown shard \(intent.shard)")
        }
        self.handoffs = handoffs
        self.migrations = migrations
    }

    /// Records a migration's timestamp on `shards` (their journals carry it from then on).
    mutating func stampMigration(_ timestamp: UInt64, on shards: [ShardID]) {
        for shard in shards where (self.shards[shard]?.migrationTimestamp ?? .max) < timestamp {
            self.shards[shard]?.migrationTimestamp = timestamp
        }
    }
}
