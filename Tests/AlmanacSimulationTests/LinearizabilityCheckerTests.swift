import Testing
@testable import AlmanacSimulation

@Suite struct LinearizabilityCheckerTests {
    func write(_ value: UInt64, _ start: UInt64, _ end: UInt64?, key: Int = 0) -> KeyValueOperation {
        KeyValueOperation(key: key, kind: .write(value: value), invoked: start, completed: end)
    }

    func read(_ value: UInt64, _ start: UInt64, _ end: UInt64, key: Int = 0) -> KeyValueOperation {
        KeyValueOperation(key: key, kind: .read(value: value), invoked: start, completed: end)
    }

    @Test func emptyHistoryIsLinearizable() {
        #expect(LinearizabilityChecker.check([]) == .linearizable)
    }

    @Test func sequentialWriteThenReadIsLinearizable() {
        let history = [write(1, 0, 10), read(1, 20, 30)]
        #expect(LinearizabilityChecker.check(history) == .linearizable)
    }

    @Test func readOfInitialValueBeforeAnyWriteIsLinearizable() {
        let history = [read(0, 0, 5), write(7, 10, 20), read(7, 25, 30)]
        #expect(LinearizabilityChecker.check(history) == .linearizable)
    }

    @Test func staleReadAfterCompletedWriteIsNotLinearizable() {
        // write(1) completes, then write(2) completes, then a read returns 1: stale.
        let history = [write(1, 0, 10), write(2, 20, 30), read(1, 40, 50)]
        #expect(LinearizabilityChecker.check(history) == .notLinearizable(key: 0))
    }

    @Test func concurrentReadMaySeeEitherValue() {
        // The read overlaps write(2), so it may return the old value 1 or the new value 2.
        let old = [write(1, 0, 10), write(2, 20, 40), read(1, 25, 35)]
        let new = [write(1, 0, 10), write(2, 20, 40), read(2, 25, 35)]
        #expect(LinearizabilityChecker.check(old) == .linearizable)
        #expect(LinearizabilityChecker.check(new) == .linearizable)
    }

    @Test func readsMustNotGoBackInTime() {
        // Two sequential reads during a long write: new then old is impossible.
        let history = [write(1, 0, 5), write(2, 10, 100), read(2, 20, 30), read(1, 40, 50)]
        #expect(LinearizabilityChecker.check(history) == .notLinearizable(key: 0))
    }

    @Test func readOfValueNeverWrittenIsNotLinearizable() {
        let history = [write(1, 0, 10), read(9, 20, 30)]
        #expect(LinearizabilityChecker.check(history) == .notLinearizable(key: 0))
    }

    @Test func unacknowledgedWriteMayTakeEffectLate() {
        // write(2) never returned; a later read may still observe it (it committed after all) ...
        let seen = [write(1, 0, 10), write(2, 20, nil), read(2, 500, 510), read(2, 600, 610)]
        #expect(LinearizabilityChecker.check(seen) == .linearizable)
        // ... or never observe it.
        let unseen = [write(1, 0, 10), write(2, 20, nil), read(1, 500, 510)]
        #expect(LinearizabilityChecker.check(unseen) == .linearizable)
        // But once observed it cannot be un-observed.
        let flicker = [write(1, 0, 10), write(2, 20, nil), read(2, 500, 510), read(1, 600, 610)]
        #expect(LinearizabilityChecker.check(flicker) == .notLinearizable(key: 0))
    }

    @Test func readObservingAWriteBeforeItWasInvokedIsNotLinearizable() {
        let history = [read(5, 0, 10), write(5, 20, 30)]
        #expect(LinearizabilityChecker.check(history) == .notLinearizable(key: 0))
    }

    @Test func keysAreCheckedIndependently() {
        let history = [write(1, 0, 10, key: 0), write(2, 0, 10, key: 1), read(1, 20, 30, key: 0), read(2, 20, 30, key: 1),
                       read(1, 40, 50, key: 1)]
        #expect(LinearizabilityChecker.check(history) == .notLinearizable(key: 1))
    }

    @Test func touchingIntervalsCountAsConcurrent() {
        // The read is invoked at the instant the write completes: either order is allowed.
        let history = [write(1, 0, 10), read(0, 10, 20)]
        #expect(LinearizabilityChecker.check(history) == .linearizable)
    }

    @Test func manyConcurrentWritesWithInterleavedReads() {
        // 12 overlapping writes then reads that must agree on one final order.
        var history: [KeyValueOperation] = []
        for v in 1...12 { history.append(write(UInt64(v), UInt64(v), 100 + UInt64(v))) }
        history.append(read(7, 200, 210))
        history.append(read(7, 220, 230))
        #expect(LinearizabilityChecker.check(history) == .linearizable)
        history.append(read(3, 240, 250))
        #expect(LinearizabilityChecker.check(history) == .notLinearizable(key: 0))
    }

    @Test func budgetExhaustionIsReportedAsInconclusive() {
        var history: [KeyValueOperation] = []
        for v in 1...20 { history.append(write(UInt64(v), 0, nil)) }
        history.append(read(99, 10, 20))  // impossible, forces the full search
        #expect(LinearizabilityChecker.check(history, stateBudget: 50) == .inconclusive(key: 0))
    }
}
