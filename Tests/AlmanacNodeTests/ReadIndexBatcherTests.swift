import AlmanacNode
import Testing

@Suite struct ReadIndexBatcherTests {
    @Test func readsArrivingDuringARoundJoinTheNextOne() {
        var batcher = ReadIndexBatcher()
        let startNow = batcher.add(1)                 // nothing in flight: start now
        #expect(startNow)
        let first = batcher.start(id: 100, tick: 0)
        #expect(first == [1])
        let second = batcher.add(2)                   // round 100 in flight: wait
        let third = batcher.add(3)
        #expect(!second && !third)
        let refused = batcher.start(id: 101, tick: 0)
        #expect(refused == nil)
        #expect(batcher.round?.reads == [1])          // 2 and 3 are not in round 100
        let confirmed = batcher.confirmed(id: 100)
        #expect(confirmed == [1])
        #expect(batcher.needsRound)
        let next = batcher.start(id: 101, tick: 1)
        #expect(next == [2, 3])
        #expect(!batcher.needsRound)
        let confirmedNext = batcher.confirmed(id: 101)
        #expect(confirmedNext == [2, 3])
        #expect(!batcher.needsRound)
        #expect(batcher.roundsStarted == 2)
    }

    @Test func anUnknownOrAbandonedRoundConfirmsNothing() {
        var batcher = ReadIndexBatcher()
        _ = batcher.add(1)
        _ = batcher.start(id: 7, tick: 0)
        let unknown = batcher.confirmed(id: 6)
        #expect(unknown == nil)
        #expect(batcher.round?.id == 7)
        let abandoned = batcher.abandon(id: 7)
        #expect(abandoned == [1])
        #expect(batcher.round == nil)
        let late = batcher.confirmed(id: 7)
        #expect(late == nil)
    }

    @Test func aStaleRoundIsRetriedWithItsReadsFirst() {
        var batcher = ReadIndexBatcher()
        _ = batcher.add(1)
        _ = batcher.start(id: 10, tick: 5)
        _ = batcher.add(2)
        let early = batcher.retryIfStale(now: 9, retryTicks: 10)
        #expect(!early)
        let stale = batcher.retryIfStale(now: 15, retryTicks: 10)
        #expect(stale)
        #expect(batcher.round == nil)
        #expect(batcher.queued == [1, 2])
        let retried = batcher.start(id: 11, tick: 15)
        #expect(retried == [1, 2])
        let lateAnswer = batcher.confirmed(id: 10)    // the given-up round's late answer is ignored
        #expect(lateAnswer == nil)
        let answer = batcher.confirmed(id: 11)
        #expect(answer == [1, 2])
        #expect(batcher.roundsRetried == 1)
    }

    @Test func resetDropsEverything() {
        var batcher = ReadIndexBatcher()
        _ = batcher.add(1)
        _ = batcher.start(id: 1, tick: 0)
        _ = batcher.add(2)
        batcher.reset()
        #expect(batcher.round == nil && batcher.queued.isEmpty && !batcher.needsRound)
    }
}
