import AlmanacNode
import AlmanacRaft
import NIOCore

/// What the operations endpoint needs to know about a node, taken from its ``HostStatus``.
public struct NodeSnapshot: Sendable {
    public var nodeID: UInt64
    public var groups: [GroupProgress]
    public var peers: [PeerHealth]
    public var zones: [ZoneState]
    /// Why the host stopped serving (storage failure, shutdown); nil while it serves.
    public var stoppedReason: String?

    public init(nodeID: UInt64, groups: [GroupProgress], peers: [PeerHealth] = [], zones: [ZoneState] = [],
                stoppedReason: String? = nil) {
        self.nodeID = nodeID
        self.groups = groups
        self.peers = peers
        self.zones = zones
        self.stoppedReason = stoppedReason
    }

    /// From a host's status (taken with `digests: false`).
    public init(_ status: HostStatus) {
        nodeID = status.nodeID
        groups = status.groups.map { group in
            GroupProgress(group: group.group, term: group.raft.term, leader: group.raft.leader,
                          isLeader: group.raft.role == .leader, commit: group.raft.commit, applied: group.applied,
                          quiesced: group.quiesced, snapshotsSent: group.snapshotsSent,
                          snapshotBytesSent: group.snapshotBytesSent, snapshotsInstalled: group.snapshotsInstalled)
        }
        peers = []
        zones = []
        if let health = status.health {
            let now = status.healthNow
            peers = health.nodes.values.filter { $0.id != status.nodeID }.sorted { $0.id < $1.id }.map { record in
                PeerHealth(id: record.id, zone: record.zone, liveness: record.liveness,
                           silenceNanos: record.lastHeard.map { now >= $0 ? now - $0 : 0 })
            }
            zones = health.zones.keys.sorted().compactMap { zone in
                health.zones[zone].map { ZoneState(zone: zone, health: $0) }
            }
        }
        stoppedReason = status.stoppedReason
    }

    /// Adds the transport's per-peer link counters (``MultiRaftHost/transportStatistics()``).
    public mutating func attach(links: [NodeID: PeerLinkStatistics]) {
        for index in peers.indices { peers[index].link = links[peers[index].id] }
    }
}

/// One hosted Raft group's progress.
public struct GroupProgress: Sendable, Equatable {
    public var group: UInt64
    public var term: UInt64
    /// The leader this replica knows (0: none).
    public var leader: UInt64
    public var isLeader: Bool
    public var commit: UInt64
    public var applied: UInt64
    public var quiesced: Bool
    /// Snapshot transfers since the node started: started from here to lagging followers, bytes
    /// of chunks sent (resends included), received and installed here.
    public var snapshotsSent: UInt64
    public var snapshotBytesSent: UInt64
    public var snapshotsInstalled: UInt64

    public init(group: UInt64, term: UInt64, leader: UInt64, isLeader: Bool, commit: UInt64, applied: UInt64,
                quiesced: Bool = false, snapshotsSent: UInt64 = 0, snapshotBytesSent: UInt64 = 0, snapshotsInstalled: UInt64 = 0) {
        self.snapshotsSent = snapshotsSent
        self.snapshotBytesSent = snapshotBytesSent
        self.snapshotsInstalled = snapshotsInstalled
        self.group = group
        self.term = term
        self.leader = leader
        self.isLeader = isLeader
        self.commit = commit
        self.applied = applied
        self.quiesced = quiesced
    }

    /// Committed entries not yet applied here.
    public var applyLag: UInt64 { commit > applied ? commit - applied : 0 }
}

/// One peer as this node's health tracker sees it.
public struct PeerHealth: Sendable, Equatable {
    public var id: UInt64
    public var zone: String
    public var liveness: NodeLiveness
    /// Time since the peer was last heard from (nil: never).
    public var silenceNanos: UInt64?
    /// The transport's counters of the link to the peer (nil: not taken).
    public var link: PeerLinkStatistics?

    public init(id: UInt64, zone: String, liveness: NodeLiveness, silenceNanos: UInt64?, link: PeerLinkStatistics? = nil) {
        self.id = id
        self.zone = zone
        self.liveness = liveness
        self.silenceNanos = silenceNanos
        self.link = link
    }
}

/// One zone's health as this node sees it.
public struct ZoneState: Sendable, Equatable {
    public var zone: String
    public var health: ZoneHealth

    public init(zone: String, health: ZoneHealth) {
        self.zone = zone
        self.health = health
    }
}
