import Testing
@testable import AlmanacRaft

/// The Ready loop's rules that production's host and the simulator share: rounds finish in the
/// order they were taken, at most `maxInFlight` persist at once, and a commit-only hard state waits
/// for the next entries.
@Suite struct ReadyRoundsTests {
    @Test func roundsFinishInTheOrderTheyWereTakenWhateverOrderTheirWritesBecomeDurable() {
        var rounds = ReadyRounds<String>(maxInFlight: 3)
        let a = rounds.start("a")
        let b = rounds.start("b")
        let c = rounds.start("c")
        #expect(!rounds.canTake && rounds.inFlight == 3)
        // A round with nothing to write waits behind the rounds persisting.
        #expect(rounds.startWithoutWrite("d").isEmpty)
        #expect(rounds.persisted(c).isEmpty)  // c is durable, a and b are not: nothing finishes
        #expect(rounds.canTake)
        #expect(rounds.persisted(b).isEmpty)
        #expect(rounds.persisted(a) == ["a", "b", "c", "d"])
        #expect(rounds.isEmpty && rounds.inFlight == 0)
        // A second completion of the same round, or an unknown one, finishes nothing.
        #expect(rounds.persisted(a).isEmpty && rounds.persisted(99).isEmpty)
        // With nothing persisting, a round without a write finishes at once.
        #expect(rounds.startWithoutWrite("e") == ["e"])
    }

    @Test func aResetDropsEveryRound() {
        var rounds = ReadyRounds<Int>(maxInFlight: 2)
        let first = rounds.start(1)
        _ = rounds.start(2)
        rounds.reset()
        #expect(rounds.isEmpty && rounds.canTake && rounds.inFlight == 0)
        #expect(rounds.persisted(first).isEmpty)
    }

    @Test func aCommitOnlyHardStateRidesAlongWithTheNextEntries() {
        var writes = HardStateWrites(written: HardState(term: 2, vote: 1, commit: 5))
        // Only the commit index moved: nothing to write.
        #expect(writes.toWrite(for: Ready(hardState: HardState(term: 2, vote: 1, commit: 7))) == nil)
        #expect(writes.deferred == HardState(term: 2, vote: 1, commit: 7))
        // The next entries carry it.
        let entries = Ready(entries: [Entry(term: 2, index: 8)])
        #expect(writes.toWrite(for: entries) == HardState(term: 2, vote: 1, commit: 7))
        #expect(writes.deferred == nil && writes.written.commit == 7)
        // A new term or vote is written with its own Ready, entries or not.
        #expect(writes.toWrite(for: Ready(hardState: HardState(term: 3, vote: 0, commit: 7))) == HardState(term: 3, vote: 0, commit: 7))
        #expect(writes.toWrite(for: Ready(hardState: HardState(term: 3, vote: 2, commit: 7))) == HardState(term: 3, vote: 2, commit: 7))
        // A commit-only change with entries in the same Ready is written with them.
        #expect(writes.toWrite(for: Ready(hardState: HardState(term: 3, vote: 2, commit: 9), entries: [Entry(term: 3, index: 10)]))
                == HardState(term: 3, vote: 2, commit: 9))
    }
}
