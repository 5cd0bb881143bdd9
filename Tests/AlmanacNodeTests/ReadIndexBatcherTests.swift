import AlmanacNode
import Testing

@Suite struct ReadIndexBatcherTests {
    @Test func readsArrivingDuringARoundJoinTheNextOne() {
        var batcher = ReadIndexBatcher()
        #expect(batcher.add(1))                       // nothing in flight: start now
        #expect(batcher.start(id: 100, tick: 0) == [1])
        #expect(!batcher.add(2))                      // round 100 in flight: wait
        #expect(!batcher.add(3))
        #expect(batcher.start(id: 101, tick: 0) == nil)
        #expect(batcher.round?.reads == [1])          // 2 and 3 are not in round 100
        #expect(batcher.confirmed(id: 100) == [1])
        #expect(batcher.needsRound)
        #expect(batcher.start(id: 101, tick: 1) == [2, 3])
        #expect(!batcher.needsRound)
        #expect(batcher.confirmed(id: 101) == [2, 3])
        #expect(!batcher.needsRound)
        #expect(batcher.roundsStarted == 2)
    }

    @Test func anUnknownOrAbandonedRoundConfirmsNothing() {
        var batcher = ReadIndexBatcher()
        _ = batcher.add(1)
        _ = batcher.start(id: 7, tick: 0)
        #expect(batcher.confirmed(id: 6) == nil)
        #expect(batcher.round?.id == 7)
        #expect(batcher.abandon(id: 7) == [1])
        #expect(batcher.round == nil)
        #expect(batcher.confirmed(id: 7) == nil)
    }

    @Test func aStaleRoundIsRetriedWithItsReadsFirst() {
        var batcher = ReadIndexBatcher()
        _ = batcher.add(1)
        _ = batcher.start(id: 10, tick: 5)
        _ = batcher.add(2)
        #expect(!batcher.retryIfStale(now: 9, retryTicks: 10))
        #expect(batcher.retryIfStale(now: 15, retryTicks: 10))
        #expect(batcher.round == nil)
        #expect(batcher.queued == [1, 2])
        #expect(batcher.start(id: 11, tick: 15) == [1, 2])
        #expect(batcher.confirmed(id: 10) == nil)     // the given-up round's late answer is ignored
        #expect(batcher.confirmed(id: 11) == [1, 2])
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
