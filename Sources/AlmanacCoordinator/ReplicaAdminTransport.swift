import AlmanacKeyspace
import AlmanacNode

/// How the replica migration driver reaches the nodes: `join` and `leave` on a named node, every
/// other call on the shard's leader.
///
/// Production uses ``ClientReplicaAdminTransport`` (the client protocol over real sockets); the
/// crash tests drive the same driver over in-process hosts.
public protocol ReplicaAdminTransport: Sendable {
    /// Carries out `call` on `shard` (on `node` for join and leave, on the leader otherwise); the
    /// responder's configuration afterwards (nil: it hosts no replica any more).
    func replicaAdmin(shard: ShardID, call: ReplicaAdminCall, on node: NodeID?) async -> Result<ReplicaConfiguration?, ReplicaAdminFailure>
}

/// Why a replica admin call did not happen.
public enum ReplicaAdminFailure: Error, Sendable, CustomStringConvertible {
    /// Refused as invalid (Raft refused the change, a transfer to a non-voter): nothing changed.
    case refused(String)
    /// No answer, no leader, a timeout: the outcome is unknown.
    case unknown(String)

    public var description: String {
        switch self {
        case .refused(let reason): "refused: \(reason)"
        case .unknown(let reason): reason
        }
    }
}
