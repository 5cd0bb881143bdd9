import AlmanacKeyspace
import AlmanacWire

/// A request-level error as the client protocol reports it: a typed code plus a message.
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Almanac_Api_V1_ErrorCode
    public var message: String
    public var leaderHint: LeaderHint?
    /// With `WRONG_SHARD`: the epoch of the map or ownership that refused the request.
    public var shardEpoch: Epoch?
    /// With UNAVAILABLE: the shard's new leader holds its replay window (async writes).
    public var replayWindow = false

    public init(_ code: Almanac_Api_V1_ErrorCode, _ message: String, leaderHint: LeaderHint? = nil, shardEpoch: Epoch? = nil) {
        self.code = code
        self.message = message
        self.leaderHint = leaderHint
        self.shardEpoch = shardEpoch
    }

    /// The `Error` message of a response.
    public var proto: Almanac_Api_V1_Error {
        var error = Almanac_Api_V1_Error()
        error.code = code
        error.message = message
        if let shardEpoch { error.shardEpoch = shardEpoch }
        if replayWindow { error.replayWindow = true }
        if let leaderHint {
            error.leaderHint.nodeID = leaderHint.nodeID
            error.leaderHint.address = leaderHint.address
            error.leaderHint.zone = leaderHint.zone
        }
        return error
    }

    public var description: String { "\(code): \(message)" }
}
