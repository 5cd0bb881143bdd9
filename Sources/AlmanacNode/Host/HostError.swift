import AlmanacRaft

/// Why the host could not carry out a proposal or a read.
public enum HostError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The group is not hosted on this node.
    case unknownGroup(UInt64)
    /// This replica does not lead the group; `leader` is the known leader or 0.
    case notLeader(group: UInt64, leader: NodeID)
    /// The group cannot take the request now (leadership transfer, too much uncommitted data, the
    /// proposal was overwritten by a new leader). Nothing was applied for it.
    case unavailable(String)
    /// No outcome within the deadline: the request may or may not take effect.
    case timeout(String)
    /// The entry is larger than the group accepts.
    case tooLarge(String)
    /// The host is stopped or its storage failed.
    case stopped(String)
    /// A new leader's replay window (``HostConfiguration/asyncReplayWindow``): async writes wait
    /// until it ends, so that clients' replays of writes the previous leader answered ahead land first.
    case replayWindow(group: UInt64, remainingMilliseconds: Int64)
    /// The request itself is wrong (a configuration change Raft refuses, a transfer to a non-voter):
    /// nothing changed.
    case invalid(String)

    public var description: String {
        switch self {
        case .unknownGroup(let group): "group \(group) is not hosted on this node"
        case .notLeader(let group, let leader): "not the leader of group \(group) (leader: \(leader == 0 ? "unknown" : "node \(leader)"))"
        case .unavailable(let reason): "unavailable: \(reason)"
        case .timeout(let reason): "timeout: \(reason)"
        case .tooLarge(let reason): "too large: \(reason)"
        case .stopped(let reason): "stopped: \(reason)"
        case .replayWindow(let group, let remaining):
            "group \(group) has a new leader: async writes wait out its replay window (\(remaining) ms more); replays are admitted"
        case .invalid(let reason): "invalid: \(reason)"
        }
    }
}
