import AlmanacAnswersAhead
import AlmanacRaft
import NIOCore

/// Answers ahead of commit: the host drives the shared rules (`AlmanacAnswersAhead.AnswersAhead`,
/// docs/node.md "Answers ahead of commit") with its log, its applied state and its clock.
extension HostCore {
    /// Proposes `data` and answers at once with its result on the state ahead, when this leader
    /// can build that state; otherwise (a new leader's first entries) like ``propose``, at commit.
    func proposeAhead(group id: UInt64, data: [UInt8], timeout: TimeAmount,
                      promise: EventLoopPromise<AppliedResult<Machine.ApplyResult>>) {
        if let stoppedReason { return promise.fail(HostError.stopped(stoppedReason)) }
        guard let group = groups[id] else { return promise.fail(HostError.unknownGroup(id)) }
        guard group.role == .leader else { return promise.fail(HostError.notLeader(group: id, leader: group.leader)) }
        let since = group.leadingSince ?? .distantPast
        let now = NIODeadline.now()
        switch group.ahead.admit(now: now.uptimeNanoseconds, leadingSince: since.uptimeNanoseconds,
                                 replayWindow: UInt64(max(0, configuration.asyncReplayWindow.nanoseconds)),
                                 lastIndex: group.raft.lastIndex, applied: group.applied) {
        case .refusedInReplayWindow(let remaining):
            return promise.fail(HostError.replayWindow(group: id, remainingMilliseconds: max(1, Int64(remaining / 1_000_000))))
        case .atCommit:
            answersAheadCounters.answeredAtCommit += 1
            return propose(group: id, data: data, timeout: timeout, promise: promise)
        case .ahead:
            break
        }
        releaseHeldSpeculative(of: group)
        guard let index = enterIntoLog(data, of: group, failing: promise) else { return }
        let result = group.ahead.answer(data, at: index, term: group.raft.currentTerm, now: now.uptimeNanoseconds,
                                        applied: AheadMachine(machine: group.machine), appliedIndex: group.applied)
        answersAheadCounters.answered += 1
        scheduleReady()
        promise.succeed(AppliedResult(result: result, index: index, term: group.raft.currentTerm,
                                      durableIndex: min(group.raft.commitIndex, index)))
    }

    /// `entry` is applied to the group's state: an entry answered ahead is now durable on a
    /// majority, or, with another term at its index, was replaced (acknowledged and lost).
    func appliedAhead(_ entry: Entry, in group: GroupReplica<Machine>) {
        switch group.ahead.applied(index: entry.index, term: entry.term, now: NIODeadline.now().uptimeNanoseconds) {
        case .durable(let exposure)?:
            answersAheadCounters.durable += 1
            answersAheadCounters.exposureNanosecondsTotal &+= exposure
            answersAheadCounters.exposureNanosecondsMax = max(answersAheadCounters.exposureNanosecondsMax, exposure)
        case .lost?:
            answersAheadCounters.lost += 1
        case nil:
            break
        }
    }

    /// A snapshot from a leader replaced this replica's state through `index`.
    func installedUnderAnswersAhead(_ index: LogIndex, in group: GroupReplica<Machine>) {
        answersAheadCounters.outcomeUnknown += UInt64(group.ahead.installedSnapshot(through: index))
    }
}
