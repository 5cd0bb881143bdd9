import Testing
@testable import AlmanacSimulation

@Suite struct LinearizabilityCheckerTests {
    func write(_ value: UInt64, _ start: UInt64, _ end: UInt64?, key: Int = 0) -> KeyValueOperation {
        KeyValueOperation(key: key, kind: .write(value: value), invoked: start, completed: end)
    }

    func read(_ value: UInt64, _ start: UInt64, _ end: UInt64, key: Int = 0) -> KeyValueOperation {
        KeyValueOperation(key: key, kind: .read(value: value), invoked: start, completed: end)
    }

    /// Every hand-made history below gets the same verdict from both algorithms.
    @Test func bothAlgorithmsAgreeOnHandMadeHistories() {
        let histories: [[KeyValueOperation]] = [
            [write(1, 0, 10), write(2, 20, 30), read(1, 40, 50)],
            [write(1, 0, 5), write(2, 10, 100), read(2, 20, 30), read(1, 40, 50)],
            [write(1, 0, 10), write(2, 20, nil), read(2, 500, 510), read(1, 600, 610)],
            [write(1, 0, 10), write(2, 20, nil), read(1, 500, 510)],
            [read(5, 0, 10), write(5, 20, 30)],
            [write(1, 0, 10), read(0, 10, 20)],
        ]
        for history in histories {
            #expect(LinearizabilityChecker.checkByZones(history, initialValue: 0)
                    == LinearizabilityChecker.checkRegister(history, initialValue: 0, stateBudget: 100_000))
        }
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
        #expect(LinearizabilityChecker.checkRegister(history, initialValue: 0, stateBudget: 50) == nil)
    }

    @Test func repeatedWriteValuesUseTheSearch() {
        // Value 1 written twice: no read-mapping, the zone test declines and the search decides.
        let history = [write(1, 0, 10), write(2, 20, 30), write(1, 40, 50), read(1, 60, 70)]
        #expect(LinearizabilityChecker.checkByZones(history, initialValue: 0) == nil)
        #expect(LinearizabilityChecker.check(history) == .linearizable)
    }

    /// The zone test and the Wing & Gong search agree on thousands of random small histories.
    @Test func zoneTestAgreesWithSearchOnRandomHistories() {
        var random = Xoshiro256StarStar(seed: 2024)
        var disagreements: [String] = []
        var nonLinearizable = 0
        for _ in 0..<4_000 {
            var history: [KeyValueOperation] = []
            let writeCount = random.int(in: 0...4)
            for v in 0..<writeCount {
                let start = UInt64(random.int(in: 0...40))
                let end: UInt64? = random.chance(0.15) ? nil : start + UInt64(random.int(in: 0...20))
                history.append(write(UInt64(v + 1), start, end))
            }
            for _ in 0..<random.int(in: 0...4) {
                let start = UInt64(random.int(in: 0...50))
                history.append(read(UInt64(random.int(in: 0...writeCount)), start, start + UInt64(random.int(in: 0...15))))
            }
            history.shuffle(using: &random)
            let zones = LinearizabilityChecker.checkByZones(history, initialValue: 0)
            let search = LinearizabilityChecker.checkRegister(history, initialValue: 0, stateBudget: 1_000_000)
            if search == false { nonLinearizable += 1 }
            if zones != search {
                let text = history.map { op -> String in
                    let end = op.completed.map(String.init) ?? "inf"
                    switch op.kind {
                    case .write(let v): return "W\(v)[\(op.invoked),\(end)]"
                    case .read(let v): return "R\(v)[\(op.invoked),\(end)]"
                    }
                }.joined(separator: " ")
                disagreements.append("zones \(String(describing: zones)) search \(String(describing: search)): \(text)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(3))")
        #expect(nonLinearizable > 100)  // the random histories exercise both verdicts
    }
}
