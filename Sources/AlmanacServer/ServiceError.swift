/// Where a shard's leader is believed to be (sent with ``ServiceError/Code/notLeader``).
public struct LeaderHint: Sendable, Hashable {
    public var nodeID: UInt64
    /// "host:port" of the leader's client endpoint.
    public var address: String
    public var zone: String

    public init(nodeID: UInt64, address: String, zone: String) {
        self.nodeID = nodeID
        self.address = address
        self.zone = zone
    }
}

/// Why the replicated backend could not answer (as opposed to a namespace error, which is a result).
public struct ServiceError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// This node does not lead the shard; `leaderHint` says where to go when known.
        case notLeader
        /// No quorum, shard not hosted here or not ready. Nothing was applied; retry later.
        case unavailable
        /// The outcome is unknown (e.g. proposed but no commit seen in time). Retry with the same sequence.
        case timeout
        /// The request exceeds a backend limit (e.g. the encoded entry is too large).
        case tooLarge
        /// The shard is not served by this cluster/node layout (re-route).
        case wrongShard
        /// Not supported by this backend.
        case unsupported
        /// The request's arguments are invalid for the backend (EINVAL).
        case invalidArgument
        /// An unexpected failure (a bug).
        case `internal`
    }

    public var code: Code
    public var message: String
    public var leaderHint: LeaderHint?
    /// With `unavailable`: a new leader's replay window refused an async write (replay, then retry).
    public var replayWindow = false

    public init(_ code: Code, _ message: String, leaderHint: LeaderHint? = nil) {
        self.code = code
        self.message = message
        self.leaderHint = leaderHint
    }

    public var description: String { "\(code): \(message)" }
}
