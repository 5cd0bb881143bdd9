import AlmanacRaft
import NIOCore

/// Answers ahead of commit (``AnswersAhead``; docs/node.md, "Answers ahead of commit").
extension HostCore {
    /// Proposes `data` and answers at once with its result on the state ahead, when this leader
    /// can build that state; otherwise (a new leader's first entries) like ``propose``, at commit.
    func proposeAhead(group id: UInt64, data: [UInt8], timeout: TimeAmount,
                      promise: EventLoopPromise<AppliedResult<Machine.ApplyResult>>) {
        if let stoppedReason { return promise.fail(HostError.stopped(stoppedReason)) }
        guard let group = groups[id] else { return promise.fail(HostError.unknownGroup(id)) }
        guard group.role == .leader else { return promise.fail(HostError.notLeader(group: id, leader: group.leader)) }
        if let since = group.leadingSince, case let remaining = (since + configuration.asyncReplayWindow) - .now(), remaining > .zero {
            return promise.fail(HostError.replayWindow(group: id, remainingMilliseconds: max(1, remaining.nanoseconds / 1_000_000)))
        }
        if group.ahead.recordingFrom == nil { group.ahead.recordingFrom = group.raft.lastIndex }
        guard group.ahead.canAnswer(applied: group.applied) else {
            answersAheadCounters.answeredAtCommit += 1
            return propose(group: id, data: data, timeout: timeout, promise: promise)
        }
        guard let index = enterIntoLog(data, of: group, failing: promise) else { return }
        var ahead = group.ahead.takeStateBefore(index, applied: group.machine, appliedIndex: group.applied)
        let result = ahead.apply(data, at: index)
        group.ahead.machine = ahead
        group.ahead.through = index
        group.ahead.unapplied[index] = data
        group.ahead.answered[index] = (group.raft.currentTerm, .now())
        group.ahead.answeredThrough = index
        answersAheadCounters.answered += 1
        scheduleReady()
        promise.succeed(AppliedResult(result: result, index: index, term: group.raft.currentTerm,
                                      durableIndex: min(group.raft.commitIndex, index)))
    }

    /// Any other proposal of this leader, while answers ahead are recorded: remembered until
    /// applied, and applied to the state ahead when there is one (log order is proposal order).
    func keepAheadInStep(_ group: GroupReplica<Machine>, proposed data: [UInt8], at index: LogIndex) {
        guard group.ahead.recordingFrom != nil else { return }
        group.ahead.unapplied[index] = data
        guard var ahead = group.ahead.machine else { return }
        group.ahead.machine = nil
        _ = ahead.apply(data, at: index)
        group.ahead.machine = ahead
        group.ahead.through = index
    }

    /// `entry` is applied to the group's state: an entry answered ahead is now durable on a
    /// majority, or, with another term at its index, was replaced (acknowledged and lost).
    func appliedAhead(_ entry: Entry, in group: GroupReplica<Machine>) {
        group.ahead.unapplied.removeValue(forKey: entry.index)
        if group.ahead.machine != nil { group.ahead.appliedSinceBuilt += 1 }
        guard let answer = group.ahead.answered.removeValue(forKey: entry.index) else { return }
        if answer.term == entry.term {
            let exposure = UInt64(max(0, (NIODeadline.now() - answer.at).nanoseconds))
            answersAheadCounters.durable += 1
            answersAheadCounters.exposureNanosecondsTotal &+= exposure
            answersAheadCounters.exposureNanosecondsMax = max(answersAheadCounters.exposureNanosecondsMax, exposure)
        } else {
            answersAheadCounters.lost += 1
        }
    }

    /// The state ahead is dropped once the applied state caught up with it (they are equal then),
    /// or after ``AnswersAhead/rebuildAfter`` applies, so the two copies never drift far apart.
    func dropStateAheadIfCaughtUp(_ group: GroupReplica<Machine>) {
        if group.applied >= group.ahead.through || group.ahead.appliedSinceBuilt >= AnswersAhead<Machine>.rebuildAfter {
            group.ahead.machine = nil
        }
    }

    /// A snapshot from a leader replaced this replica's state through `index`.
    func installedUnderAnswersAhead(_ index: LogIndex, in group: GroupReplica<Machine>) {
        group.ahead.machine = nil
        group.ahead.unapplied = group.ahead.unapplied.filter { $0.key > index }
        let covered = group.ahead.answered.keys.filter { $0 <= index }
        for key in covered { group.ahead.answered.removeValue(forKey: key) }
        answersAheadCounters.outcomeUnknown += UInt64(covered.count)
    }
}
