import AlmanacKeyspace
/// One voting replica: the zone and the node that hosts it.
public struct ReplicaPlacement: Sendable, Hashable, Codable {
    public var zone: ZoneIndex
    public var node: NodeIndex

    public init(zone: ZoneIndex, node: NodeIndex) {
        self.zone = zone
        self.node = node
    }
}

/// A shard: a Raft group owning the consecutive segments `segments`, with one voter per zone,
/// a leader among the voters and an epoch bumped by every configuration or leadership change.
public struct Shard: Sendable, Hashable {
    public let id: ShardID
    public internal(set) var segments: Range<SegmentID>
    /// Voters sorted by zone; at most one per zone.
    public internal(set) var voters: [ReplicaPlacement]
    public internal(set) var leader: NodeIndex
    public internal(set) var epoch: Epoch

    public var leaderZone: ZoneIndex { voters.first { $0.node == leader }?.zone ?? -1 }
    public var voterZones: [ZoneIndex] { voters.map(\.zone) }
}

/// The deciders' view of the shard map: shards as contiguous runs of segments covering
/// `0..<keying.segmentCount` without gaps or overlap, their voters as topology positions. The live
/// map is AlmanacKeyspace's `ShardMap`; AlmanacControl builds this view from it (every live shard
/// owns one contiguous run), and the placement simulator keeps one of its own.
public struct ShardLayout: Sendable, Hashable {
    public let keying: SegmentKeying
    /// Shards sorted by their first segment.
    public private(set) var shards: [Shard]
    private var nextShardID: ShardID

    /// Builds a map of shards of `segmentsPerShard` segments, all with the same voters and leader.
    public init(keying: SegmentKeying, segmentsPerShard: Int, voters: [ReplicaPlacement], leader: NodeIndex, topology: Topology) throws {
        guard segmentsPerShard > 0 else { throw PlacementError.invalidConfiguration("segmentsPerShard must be > 0") }
        var shards: [Shard] = []
        var start = 0
        while start < keying.segmentCount {
            let end = Swift.min(keying.segmentCount, start + segmentsPerShard)
            shards.append(Shard(id: ShardID(shards.count), segments: SegmentID(start)..<SegmentID(end),
                                voters: voters.sorted { $0.zone < $1.zone }, leader: leader, epoch: 1))
            start = end
        }
        self.keying = keying
        self.shards = shards
        self.nextShardID = ShardID(shards.count)
        if let problem = violations(topology: topology).first { throw PlacementError.constraintViolation(problem) }
    }

    /// Builds a map from explicit shards (used by tests and generators). Validates coverage and constraints.
    public init(keying: SegmentKeying, shards: [(segments: Range<SegmentID>, voters: [ReplicaPlacement], leader: NodeIndex)], topology: Topology) throws {
        let sorted = shards.sorted { $0.segments.lowerBound < $1.segments.lowerBound }
        self.keying = keying
        self.shards = sorted.enumerated().map { i, s in
            Shard(id: ShardID(i), segments: s.segments, voters: s.voters.sorted { $0.zone < $1.zone }, leader: s.leader, epoch: 1)
        }
        self.nextShardID = ShardID(sorted.count)
        if let problem = violations(topology: topology).first { throw PlacementError.constraintViolation(problem) }
    }

    /// Index in `shards` of the shard with `id`.
    public func index(of id: ShardID) -> Int? { shards.firstIndex { $0.id == id } }

    public func shard(_ id: ShardID) -> Shard? { index(of: id).map { shards[$0] } }

    /// The shard owning `segment` (binary search).
    public func shardIndex(containing segment: SegmentID) -> Int? {
        var lo = 0, hi = shards.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let r = shards[mid].segments
            if segment < r.lowerBound { hi = mid - 1 } else if segment >= r.upperBound { lo = mid + 1 } else { return mid }
        }
        return nil
    }

    public func shard(containing segment: SegmentID) -> Shard? { shardIndex(containing: segment).map { shards[$0] } }

    /// Constraint violations (empty when the map is valid): coverage, one voter per zone,
    /// replication factor, leader among voters, nodes in their stated zones.
    public func violations(topology: Topology, replicationFactor: Int? = nil) -> [String] {
        var out: [String] = []
        var expected = 0
        for s in shards {
            if Int(s.segments.lowerBound) != expected { out.append("gap or overlap before shard \(s.id)") }
            if s.segments.isEmpty { out.append("shard \(s.id) is empty") }
            expected = Int(s.segments.upperBound)
            let zones = s.voters.map(\.zone)
            if Set(zones).count != zones.count { out.append("shard \(s.id): two voters in one zone") }
            if let rf = replicationFactor, zones.count != rf { out.append("shard \(s.id): \(zones.count) voters, want \(rf)") }
            if !s.voters.contains(where: { $0.node == s.leader }) { out.append("shard \(s.id): leader is not a voter") }
            for v in s.voters {
                guard topology.nodes.indices.contains(v.node) else { out.append("shard \(s.id): unknown node \(v.node)"); continue }
                if topology.nodes[v.node].zone != v.zone { out.append("shard \(s.id): node \(v.node) not in zone \(v.zone)") }
            }
        }
        if expected != keying.segmentCount { out.append("segments \(expected)..<\(keying.segmentCount) uncovered") }
        return out
    }

    // MARK: - Mutations (each bumps the shard's epoch)

    /// Moves leadership to `node`, which must host a voter of the shard.
    public mutating func transferLeadership(shard id: ShardID, to node: NodeIndex) throws {
        guard let i = index(of: id) else { throw PlacementError.unknownShard(id) }
        guard shards[i].voters.contains(where: { $0.node == node }) else {
            throw PlacementError.constraintViolation("node \(node) is not a voter of shard \(id)")
        }
        guard shards[i].leader != node else { return }
        shards[i].leader = node
        shards[i].epoch += 1
    }

    /// Replaces the voter in `removeZone` by `add` (promote a caught-up learner, remove the old voter).
    /// Keeps one voter per zone. If the removed voter led, leadership moves to the new voter.
    public mutating func replaceVoter(shard id: ShardID, removeZone: ZoneIndex, add: ReplicaPlacement, topology: Topology) throws {
        guard let i = index(of: id) else { throw PlacementError.unknownShard(id) }
        guard topology.nodes.indices.contains(add.node), topology.nodes[add.node].zone == add.zone else {
            throw PlacementError.unknownNode(add.node)
        }
        var s = shards[i]
        guard let r = s.voters.firstIndex(where: { $0.zone == removeZone }) else {
            throw PlacementError.constraintViolation("shard \(id) has no voter in zone \(removeZone)")
        }
        guard add.zone == removeZone || !s.voters.contains(where: { $0.zone == add.zone }) else {
            throw PlacementError.constraintViolation("shard \(id) already has a voter in zone \(add.zone)")
        }
        let removed = s.voters.remove(at: r)
        s.voters.append(add)
        s.voters.sort { $0.zone < $1.zone }
        if s.leader == removed.node { s.leader = add.node }
        s.epoch += 1
        shards[i] = s
    }

    /// Splits the shard containing `segment` so that `segment` starts a shard. Returns the new shard's id
    /// (the right half), or nil when `segment` already starts a shard.
    @discardableResult
    public mutating func split(at segment: SegmentID) throws -> ShardID? {
        guard let i = shardIndex(containing: segment) else { throw PlacementError.invalidConfiguration("segment \(segment) out of range") }
        var left = shards[i]
        guard left.segments.lowerBound != segment else { return nil }
        let right = Shard(id: nextShardID, segments: segment..<left.segments.upperBound,
                          voters: left.voters, leader: left.leader, epoch: left.epoch + 1)
        nextShardID += 1
        left.segments = left.segments.lowerBound..<segment
        left.epoch += 1
        shards[i] = left
        shards.insert(right, at: i + 1)
        return right.id
    }

    /// Merges the shard starting at `boundary` into its left neighbour. Both must have the same voters
    /// and leader (a merge never moves data between zones).
    public mutating func merge(at boundary: SegmentID) throws {
        guard let i = shardIndex(containing: boundary), i > 0, shards[i].segments.lowerBound == boundary else {
            throw PlacementError.invalidConfiguration("segment \(boundary) does not start a shard with a left neighbour")
        }
        guard shards[i].voters == shards[i - 1].voters, shards[i].leader == shards[i - 1].leader else {
            throw PlacementError.constraintViolation("merge needs identical placement")
        }
        shards[i - 1].segments = shards[i - 1].segments.lowerBound..<shards[i].segments.upperBound
        shards[i - 1].epoch = Swift.max(shards[i - 1].epoch, shards[i].epoch) + 1
        shards.remove(at: i)
    }

    /// Applies a resharding operation.
    public mutating func apply(_ op: ReshardOperation) throws {
        switch op {
        case .split(let at, _): try split(at: at)
        case .merge(let boundary, _): try merge(at: boundary)
        }
    }
}
