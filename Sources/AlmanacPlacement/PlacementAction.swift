import AlmanacKeyspace
/// A placement action a policy asks for. Replica moves are two-phase: `prepareReplicaMove` adds a learner
/// in the target zone (data copy and catch-up take time and may fail); `commitReplicaMove` promotes the
/// caught-up learner and removes the voter of `removeZone` in one configuration change. The shard map
/// changes only when a commit succeeds.
public enum PlacementAction: Sendable, Hashable {
    case transferLeadership(shard: ShardID, to: NodeIndex)
    case prepareReplicaMove(ReplicaMove)
    case commitReplicaMove(id: MoveID, newLeader: NodeIndex?)
    case abortReplicaMove(id: MoveID)
    case reshard(ReshardOperation)
}

/// A replica move: the learner to add, the voter it will replace, and what it anticipates.
public struct ReplicaMove: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        /// Copying data and catching up; ready at `readyAt` (seconds) unless it fails.
        case preparing(readyAt: Double)
        /// Learner caught up: can be committed.
        case prepared(readyAt: Double)
    }

    public var id: MoveID
    public var shard: ShardID
    public var removeZone: ZoneIndex
    public var add: ReplicaPlacement
    public var bytes: Double
    public var startedAt: Double
    /// When the planner expects the move to start paying off (the anticipated peak), if predictive.
    public var anticipatedAt: Double?
    public var state: State

    public init(id: MoveID, shard: ShardID, removeZone: ZoneIndex, add: ReplicaPlacement, bytes: Double, startedAt: Double,
                anticipatedAt: Double?, state: State = .preparing(readyAt: .infinity)) {
        self.id = id
        self.shard = shard
        self.removeZone = removeZone
        self.add = add
        self.bytes = bytes
        self.startedAt = startedAt
        self.anticipatedAt = anticipatedAt
        self.state = state
    }

    public var isPreparing: Bool { if case .preparing = state { return true } else { return false } }
    public var isPrepared: Bool { if case .prepared = state { return true } else { return false } }
}

/// What a policy sees each step: the map, moves in flight, measured load. All values, no I/O.
public struct PlacementView: Sendable {
    public var time: Double
    public var stepSeconds: Double
    public var map: ShardLayout
    public var topology: Topology
    /// Moves not yet committed (preparing or prepared).
    public var moves: [ReplicaMove]
    /// Moves that failed since the previous step.
    public var failedMoves: [ReplicaMove]
    /// Moves that were committed since the previous step, with the measured prepare duration.
    public var completedMoveSeconds: [Double]
    /// Per-shard ops in the last step, `stepOps[shardID][zone]` (reads + writes).
    public var stepOps: [ShardID: [Double]]
    /// Per-segment per-zone reads and writes in the last step: `segmentOps[segment][zone]`.
    public var segmentReads: [[Double]]
    public var segmentWrites: [[Double]]
    /// Measured utilization of each node over the last step.
    public var nodeUtilization: [Double]
    /// Bytes of data per segment.
    public var bytesPerSegment: Double

    public init(time: Double, stepSeconds: Double, map: ShardLayout, topology: Topology, moves: [ReplicaMove], failedMoves: [ReplicaMove],
                completedMoveSeconds: [Double], stepOps: [ShardID: [Double]], segmentReads: [[Double]], segmentWrites: [[Double]],
                nodeUtilization: [Double], bytesPerSegment: Double) {
        self.time = time
        self.stepSeconds = stepSeconds
        self.map = map
        self.topology = topology
        self.moves = moves
        self.failedMoves = failedMoves
        self.completedMoveSeconds = completedMoveSeconds
        self.stepOps = stepOps
        self.segmentReads = segmentReads
        self.segmentWrites = segmentWrites
        self.nodeUtilization = nodeUtilization
        self.bytesPerSegment = bytesPerSegment
    }
}

/// A placement policy: a pure state machine from views to actions.
public protocol PlacementPolicy: Sendable {
    var name: String { get }
    mutating func decide(_ view: PlacementView) -> [PlacementAction]
}

/// The static policy: never acts.
public struct StaticPolicy: PlacementPolicy {
    public var name: String { "static" }
    public init() {}
    public mutating func decide(_ view: PlacementView) -> [PlacementAction] { [] }
}
