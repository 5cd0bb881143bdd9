import AlmanacRaft
import AlmanacStorage
import Foundation
import NIOCore
import NIOSSL

/// Settings of a ``MultiRaftHost``.
public struct HostConfiguration: Sendable {
    /// This node (one of `members` or `joinedMembers`).
    public var nodeID: NodeID
    /// The founding members of the cluster (the same list on every node, for the cluster's whole
    /// life): they fix the static placement of the groups it started with.
    public var members: [ClusterMember]
    /// Members added at runtime (`ctl node add`) that this node knows of at start, itself included
    /// when it joined a running cluster. They host no static group; the rest of the runtime
    /// membership reaches the host through ``MultiRaftHost/setMembers(_:)``.
    public var joinedMembers: [ClusterMember] = []
    /// The groups of the cluster, numbered 0..<groupCount; this node hosts those placed on it.
    public var groupCount: Int
    /// Distinct zones `members` must span (`ReplicaPlacement.minimumZones`, 3); lower it only for
    /// single-machine tests (`NodeConfigFile.allowFewerZones`).
    public var minimumZones = ReplicaPlacement.minimumZones
    /// Length of one Raft tick.
    public var tickInterval: TimeAmount = .milliseconds(50)
    /// Ticks between heartbeats and before an election (see ``RaftConfig``).
    public var heartbeatTicks = 2
    public var electionTicks = 10
    /// A leader whose group stayed idle (nothing to replicate, every live follower caught up) for
    /// this many ticks quiesces it: no more ticks or heartbeats until something happens.
    public var quiesceAfterTicks = 6
    /// Take a snapshot (and compact the log) after this many entries since the last one (etcd's
    /// default). The state is encoded and written off the host loop; the loop pays only for the
    /// copy-on-write of the state's tables on the next apply.
    public var snapshotEveryEntries: UInt64 = 100_000
    /// Purge WAL segments after every this many snapshots taken on this node.
    public var purgeEverySnapshots = 4
    /// Size of the pieces a snapshot file is sent in.
    public var snapshotChunkBytes = 1 << 20
    /// Chunks of one snapshot transfer in flight (sent, not acknowledged by the receiver): the
    /// transfer's memory bound and its flow control (see ``HostCore`` snapshot streaming).
    public var snapshotWindowChunks = 4
    /// A transfer whose receiver acknowledged nothing for this long resends from its last
    /// acknowledged offset (a dropped connection loses chunks; the receiver keeps what it has).
    public var snapshotStallTimeout: TimeAmount = .seconds(3)
    /// Default bound on waiting for a proposal or read.
    public var requestTimeout: TimeAmount = .seconds(5)
    /// A new leader refuses async writes (answered ahead of commit) for this long after its
    /// election, admitting replays, so that clients replay the writes their previous leader
    /// answered ahead before new ones (docs/node.md, "Answers ahead of commit"). Majority writes
    /// are not held. Zero: no window.
    public var asyncReplayWindow: TimeAmount = .milliseconds(500)
    /// Ready rounds whose WAL batch may be in flight at once. More than one lets a round replicate
    /// new entries and apply newly committed ones while the previous batch syncs; the WAL writer
    /// merges batches queued behind a sync into its next one.
    public var maxBatchesInFlight = 4
    /// A round whose batch has at most this many entries, taken while nothing else is in flight,
    /// is written and synced on the host loop itself when the groups this node leads are nearly
    /// idle (``inlineSyncMaxLeaderBacklog``): it saves the two thread hand-offs to the WAL writer
    /// and back. A follower has nothing else to do for its groups until its copy is durable; a
    /// leader serving one request at a time has nothing else to do until its followers answer,
    /// which they do while it syncs. A busier leader sends every batch to the writer thread, so
    /// that its loop keeps taking requests and acks, replicating and applying while they sync.
    /// 0 disables it.
    public var inlineSyncMaxEntries = 64
    /// See ``inlineSyncMaxEntries``: a node that leads groups syncs a round on its loop only if
    /// those groups never held more than this many uncommitted entries at once during the current
    /// and the previous tick (one request at a time holds one). 0: only when they were idle; -1:
    /// never on a node that leads a group (the behaviour before 2026-12-07).
    /// `ALMANAC_INLINE_SYNC_LEADER_BACKLOG` in the environment sets it (a measurement switch).
    public var inlineSyncMaxLeaderBacklog = getenv("ALMANAC_INLINE_SYNC_LEADER_BACKLOG").flatMap { Int(String(cString: $0)) } ?? 1
    /// Linearizable reads of a group share ReadIndex rounds (``ReadIndexBatcher``). Default on;
    /// `ALMANAC_UNBATCHED_READ_INDEX=1` in the environment turns it off (one round per read, the
    /// old behaviour): a measurement switch for before/after counts (bench/instructions.sh --env).
    public var batchReadIndex = getenv("ALMANAC_UNBATCHED_READ_INDEX") == nil
    /// See ``RaftConfig/broadcastCommit``.
    public var broadcastCommit = false
    /// Run the peer transport on the host's own event loop (one thread per node for Raft, apply and
    /// peer I/O; the WAL writer has its own thread). Saves two thread hand-offs per message, which
    /// matters most when nodes share few cores; set false to give the transport a loop of its own.
    public var transportOnHostLoop = true
    /// Metrics hooks (none by default).
    public var observer = HostObserver()
    /// Mutual TLS between nodes (``PeerTransportConfiguration/tls``); nil: plaintext (`--insecure`).
    public var peerTLS: NIOSSLContext? = nil

    public init(nodeID: NodeID, members: [ClusterMember], groupCount: Int) {
        self.nodeID = nodeID
        self.members = members
        self.groupCount = groupCount
    }

    /// Groups beyond the shards, placed like them (one voter per zone): the system group holding
    /// the embedded shard map store (`SystemGroup.groupID`), unless the map lives elsewhere.
    public var systemGroups: [UInt64] = []

    /// UNSAFE, tests only (`serve --unsafe-no-fsync`): the WAL and snapshots skip every fsync, so
    /// acknowledged writes can be lost at a power cut (``POSIXFileSystem/unsafeNoSync``).
    public var unsafeNoFsync = false
    /// The disk under the WAL and the snapshots; nil: the real one (``POSIXFileSystem``, honouring
    /// `unsafeNoFsync`). Tests pass a wrapper that watches which thread does the I/O.
    public var fileSystem: (any StorageFileSystem)? = nil

    /// The groups placed on this node: its shards, then its system groups.
    public var hostedGroups: [UInt64] {
        ((0..<UInt64(max(0, groupCount))) + systemGroups).filter { ReplicaPlacement.replicas(of: $0, members: members).contains(nodeID) }
    }

    public var localMember: ClusterMember? { (members + joinedMembers).first { $0.id == nodeID } }

    /// The members this host knows of at start: the founding ones, then the joined ones.
    public var startingMembers: [ClusterMember] {
        members + joinedMembers.filter { joined in !members.contains { $0.id == joined.id } }
    }

    /// The Raft settings of every group this node hosts.
    public func raftConfig() throws(RaftConfigError) -> RaftConfig {
        var raftConfig = RaftConfig(id: nodeID, electionTick: electionTicks, heartbeatTick: heartbeatTicks)
        raftConfig.broadcastCommit = broadcastCommit
        try raftConfig.validate()
        return raftConfig
    }
}
