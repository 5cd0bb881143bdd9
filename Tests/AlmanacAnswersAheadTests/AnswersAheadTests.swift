import AlmanacAnswersAhead
import AlmanacRaft
import Testing

/// A list the entries append to; an entry's result is the list's length after it (its position),
/// so every answer depends on every entry before it.
struct PositionList: AheadApplicable, Equatable {
    var items: [[UInt8]] = []

    mutating func apply(_ data: [UInt8], at index: LogIndex) -> Int {
        items.append(data)
        return items.count
    }
}

@Suite("Answers ahead of commit (the leader's rules)")
struct AnswersAheadTests {
    @Test func aNewLeaderRefusesAsyncWritesInItsReplayWindowThenAnswersAtCommitUntilItsPredecessorsEntriesAreApplied() {
        var ahead = AnswersAhead<PositionList>()
        #expect(ahead.admit(now: 1_100, leadingSince: 1_000, replayWindow: 500, lastIndex: 10, applied: 8)
                == .refusedInReplayWindow(remaining: 400))
        #expect(!ahead.isTracking, "a refusal records nothing")
        // Window over: recording starts at the log's end (10); entries 9 and 10 are not this leader's.
        #expect(ahead.admit(now: 1_500, leadingSince: 1_000, replayWindow: 500, lastIndex: 10, applied: 8) == .atCommit)
        #expect(ahead.recordingFrom == 10)
        #expect(ahead.admit(now: 1_600, leadingSince: 1_000, replayWindow: 500, lastIndex: 12, applied: 10) == .ahead)
    }

    @Test func anAnswerAheadIsTheResultItsCommitProducesWhateverWasProposedBeforeIt() {
        var applied = PositionList(items: [[1], [2]])  // applied through index 2
        var ahead = AnswersAhead<PositionList>()
        #expect(ahead.admit(now: 0, leadingSince: 0, replayWindow: 0, lastIndex: 2, applied: 2) == .ahead)
        ahead.proposed([3], at: 3)  // a majority write of this leader, not applied yet
        let answer = ahead.answer([4], at: 4, term: 5, now: 10, applied: applied, appliedIndex: 2)
        ahead.proposed([5], at: 5)
        let second = ahead.answer([6], at: 6, term: 5, now: 11, applied: applied, appliedIndex: 2)
        #expect(ahead.answeredThrough == 6)
        // The commits: the same results, and each answer becomes durable with its exposure.
        var outcomes: [AnswersAhead<PositionList>.Outcome?] = []
        for (index, data) in [(3, [3]), (4, [4]), (5, [5]), (6, [6])] as [(LogIndex, [UInt8])] {
            let result = applied.apply(data, at: index)
            if index == 4 { #expect(result == answer) }
            if index == 6 { #expect(result == second) }
            outcomes.append(ahead.applied(index: index, term: 5, now: 20))
        }
        #expect(outcomes == [nil, .durable(exposure: 10), nil, .durable(exposure: 9)])
        ahead.dropIfCaughtUp(applied: 6)
        #expect(ahead.machine == nil, "the state ahead is dropped once the applied state caught up")
    }

    @Test func anAnswerWhoseIndexAnotherTermTakesIsLostAndASnapshotLeavesOutcomesUnknown() {
        var ahead = AnswersAhead<PositionList>()
        _ = ahead.admit(now: 0, leadingSince: 0, replayWindow: 0, lastIndex: 0, applied: 0)
        _ = ahead.answer([1], at: 1, term: 2, now: 0, applied: PositionList(), appliedIndex: 0)
        _ = ahead.answer([2], at: 2, term: 2, now: 0, applied: PositionList(), appliedIndex: 0)
        _ = ahead.answer([3], at: 3, term: 2, now: 0, applied: PositionList(), appliedIndex: 0)
        ahead.leadershipLost()
        #expect(ahead.answeredThrough == 0 && ahead.machine == nil && ahead.recordingFrom == nil)
        #expect(ahead.isTracking, "answered entries stay tracked after leadership is lost")
        #expect(ahead.applied(index: 1, term: 3, now: 0) == .lost)
        #expect(ahead.installedSnapshot(through: 2) == 1)
        #expect(ahead.applied(index: 3, term: 2, now: 0) == .durable(exposure: 0))
        #expect(!ahead.isTracking)
    }

    @Test func theStateAheadIsRebuiltAfterRebuildAfterApplies() {
        var ahead = AnswersAhead<PositionList>(rebuildAfter: 2)
        _ = ahead.admit(now: 0, leadingSince: 0, replayWindow: 0, lastIndex: 0, applied: 0)
        _ = ahead.answer([1], at: 1, term: 1, now: 0, applied: PositionList(), appliedIndex: 0)
        _ = ahead.answer([2], at: 2, term: 1, now: 0, applied: PositionList(), appliedIndex: 0)
        _ = ahead.answer([3], at: 3, term: 1, now: 0, applied: PositionList(), appliedIndex: 0)
        _ = ahead.applied(index: 1, term: 1, now: 0)
        ahead.dropIfCaughtUp(applied: 1)
        #expect(ahead.machine != nil)
        _ = ahead.applied(index: 2, term: 1, now: 0)
        ahead.dropIfCaughtUp(applied: 2)
        #expect(ahead.machine == nil, "dropped after 2 applies although not caught up")
        // Rebuilt from the applied state plus the recorded unapplied entry 3.
        let answer = ahead.answer([4], at: 4, term: 1, now: 0, applied: PositionList(items: [[1], [2]]), appliedIndex: 2)
        #expect(answer == 4)
    }
}

@Suite("Unconfirmed writes (the client's rules)")
struct UnconfirmedWritesTests {
    @Test func aResponseOfTheSameTermReleasesWhatItsDurableIndexPassesAndANewerTermHandsBackTheRestForReplay() {
        var writes = UnconfirmedWrites<String>()
        writes.keep("c", shard: 1, sequence: 3, index: 12, term: 4)
        writes.keep("a", shard: 1, sequence: 1, index: 10, term: 4)
        writes.keep("b", shard: 1, sequence: 2, index: 11, term: 4)
        writes.keep("other shard", shard: 2, sequence: 1, index: 5, term: 4)
        let same = writes.settle(shard: 1, leaderTerm: 4, durableIndex: 11)
        #expect(same.durable.map(\.write).sorted() == ["a", "b"])
        #expect(same.replay.isEmpty)
        #expect(writes.count == 2)
        // An older term's response settles nothing (a deposed leader).
        let older = writes.settle(shard: 1, leaderTerm: 3, durableIndex: 100)
        #expect(older.durable.isEmpty && older.replay.isEmpty)
        let newer = writes.settle(shard: 1, leaderTerm: 5, durableIndex: 100)
        #expect(newer.durable.isEmpty, "a newer term's durable index says nothing about an older term's entry")
        #expect(newer.replay.map(\.write) == ["c"])
        #expect(!writes.contains(shard: 1) && writes.contains(shard: 2))
        #expect(writes.shards == [2])
    }

    @Test func takeAllHandsBackAShardsWritesInSequenceOrder() {
        var writes = UnconfirmedWrites<UInt64>()
        for sequence: UInt64 in [5, 2, 9, 1] { writes.keep(sequence, shard: 0, sequence: sequence, index: sequence, term: 1) }
        #expect(writes.first(shard: 0)?.sequence == 5)
        #expect(writes.takeAll(shard: 0).map(\.sequence) == [1, 2, 5, 9])
        #expect(writes.count == 0 && writes.takeAll(shard: 0).isEmpty)
    }
}
