import AlmanacRaft

/// One group's membership as one of its replicas sees it: what replica migration reads and changes
/// (docs/migration.md). The leader's view is authoritative; a follower's may lag.
public struct ReplicaConfiguration: Sendable, Hashable {
    public var group: UInt64
    /// The node that answered.
    public var responder: NodeID
    public var leader: NodeID
    public var term: Term
    /// Voters of the incoming (or only) configuration.
    public var voters: [NodeID]
    /// Voters of the outgoing configuration while joint; empty otherwise.
    public var outgoingVoters: [NodeID]
    public var learners: [NodeID]
    public var commitIndex: LogIndex
    public var lastIndex: LogIndex
    public var appliedIndex: LogIndex
    /// The leader's view of every replica's log (empty on a follower).
    public var matchIndex: [NodeID: LogIndex]
    /// Bytes of snapshot chunks this replica sent for the group (resends included), per receiving
    /// node, since it started.
    public var snapshotBytesSent: [NodeID: UInt64]

    public init(group: UInt64, responder: NodeID, leader: NodeID, term: Term, voters: [NodeID], outgoingVoters: [NodeID],
                learners: [NodeID], commitIndex: LogIndex, lastIndex: LogIndex, appliedIndex: LogIndex,
                matchIndex: [NodeID: LogIndex], snapshotBytesSent: [NodeID: UInt64]) {
        self.group = group
        self.responder = responder
        self.leader = leader
        self.term = term
        self.voters = voters.sorted()
        self.outgoingVoters = outgoingVoters.sorted()
        self.learners = learners.sorted()
        self.commitIndex = commitIndex
        self.lastIndex = lastIndex
        self.appliedIndex = appliedIndex
        self.matchIndex = matchIndex
        self.snapshotBytesSent = snapshotBytesSent
    }

    public var isJoint: Bool { !outgoingVoters.isEmpty }
    public var isLeader: Bool { leader != 0 && leader == responder }

    /// Every node that holds a replica in this configuration (voters, outgoing voters, learners).
    public var members: Set<NodeID> { Set(voters).union(outgoingVoters).union(learners) }
}
