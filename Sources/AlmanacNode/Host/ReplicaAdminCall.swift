import AlmanacRaft

/// One step of replica migration on a shard's Raft group (`replica_admin` requests,
/// docs/migration.md). The configuration changes carry their preconditions: the leader checks them
/// against its configuration when it proposes (on its loop, with no other change pending), so a
/// driver acting on a stale view changes nothing.
public enum ReplicaAdminCall: Sendable, Hashable {
    /// Start an empty replica on the receiving node.
    case join
    /// Found a new group on the receiving node: a replica whose first configuration is `voters`
    /// (every founding replica gets the same list; a new shard at runtime, docs/migration.md).
    case found(voters: [NodeID])
    /// Drop the receiving node's replica.
    case leave
    /// Add `node` as a learner (nothing to do if it holds a replica in the configuration).
    case addLearner(NodeID)
    /// The swap: learner `node` becomes a voter and voter `replacing` leaves, by joint consensus.
    case promoteLearner(NodeID, replacing: NodeID)
    /// Remove learner `node` (refused if it is a voter; nothing to do if absent).
    case removeLearner(NodeID)
    /// Hand the leadership to a voter.
    case transferLeadership(to: NodeID)
    /// The leader's view of the configuration.
    case configuration
}
