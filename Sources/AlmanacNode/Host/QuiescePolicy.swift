import AlmanacRaft

/// When an idle group may stop ticking (pure decisions; the host carries them out).
///
/// A leader quiesces its group when its log is fully committed and applied, every follower whose
/// node is not known to be down has the whole log, nothing waits (proposals, reads, transfer) and
/// the group stayed that way for some ticks. It then sends its followers one last heartbeat marked
/// "quiesce" and stops ticking; followers that receive it stop ticking too. Anything that arrives
/// for the group (a proposal, a read, a non-heartbeat message) wakes it. A follower whose leader's
/// node turns suspect or down wakes, forgets the leader and lets the election timer run.
public enum QuiescePolicy {
    /// Marks the leader's last heartbeat before quiescing (carried in the heartbeat's context).
    public static let quiesceContext: [UInt8] = Array("almanac.quiesce".utf8)

    /// Whether the leader's group is idle right now (one tick's worth of the decision).
    public static func leaderIsIdle(status: RaftStatus, hostApplied: LogIndex, pendingRequests: Int,
                                    isDown: (NodeID) -> Bool) -> Bool {
        guard status.role == .leader, status.transferee == 0, pendingRequests == 0 else { return false }
        guard status.commit == status.lastIndex, hostApplied >= status.commit, !status.confState.isJoint else { return false }
        for voter in status.confState.voters + status.confState.learners where voter != status.id {
            guard let progress = status.progress[voter] else { return false }
            if progress.match < status.lastIndex && !isDown(voter) { return false }
        }
        return true
    }

    /// Whether an inbound message for a quiesced group should wake it. Heartbeat responses (the
    /// answers to the quiesce heartbeat) and quiesce heartbeats do not.
    public static func wakes(_ message: Message) -> Bool {
        switch message.type {
        case .heartbeatResponse: return false
        case .heartbeat: return message.context != quiesceContext
        default: return true
        }
    }

    /// Whether a quiesced follower must wake because its leader's node is no longer alive.
    public static func followerMustWake(leader: NodeID, leaderLiveness: NodeLiveness?) -> Bool {
        guard leader != 0 else { return true }
        switch leaderLiveness {
        case .suspect, .down: return true
        case .alive, .unknown, .none: return false
        }
    }
}
