import AlmanacRaft
import Testing
@testable import AlmanacStorage

@Suite struct LogEngineTests {
    @Test func roundTripManyGroupsInterleavedWithTruncationsAcrossSegments() throws {
        let fs = InMemoryFileSystem()
        let options = LogEngineOptions(segmentSize: 4096)
        var engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        var model = LogModel()
        var random = SplitMix64(seed: 7)
        var terms: [GroupID: Term] = [:]
        for step in 0..<400 {
            var batch = WriteBatch()
            var touched = Set<GroupID>()
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let group = GroupID(1 + random.next() % 12)
                guard touched.insert(group).inserted else { continue }
                let last = model.lastIndex(group)
                var start = last + 1
                if last > 2 && random.next() % 10 == 0 {
                    start = last - random.next() % 3   // conflict: overwrite a suffix with a new term
                    terms[group, default: 1] += 1
                }
                let term = terms[group, default: 1]
                let new = (start..<(start + 1 + random.next() % 3)).map {
                    entry(group, $0, term: term, size: Int(random.next() % 90))
                }
                model.append(group, new)
                let hardState = HardState(term: term, vote: group % 3, commit: max(0, start - 1))
                model.hardStates[group] = hardState
                batch.groups.append(GroupWrite(group: group, entries: new, hardState: hardState))
            }
            try engine.append(batch)
            if step % 100 == 99 {
                fs.crash(.loseUnsynced)
                engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
                #expect(engine.recovery.tornTails.isEmpty)
                #expect(try mismatches(engine, model) == [])
            }
        }
        #expect(engine.segmentNames.count > 5, "the test should span many segments")
        #expect(try mismatches(engine, model) == [])
        let initial = try engine.initialState(group: 3)
        #expect(initial.entries == model.sortedEntries(3))
        #expect(initial.hardState == model.hardStates[3])
        #expect(initial.snapshot == nil)
    }

    @Test func truncationIsARecordNotAnInPlaceRewrite() throws {
        let fs = InMemoryFileSystem()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: small)
        try engine.append(WriteBatch([GroupWrite(group: 1, entries: (1...5).map { entry(1, $0) })]))
        let segment = "/data/wal/" + engine.segmentNames.last!
        let before = try fs.contents(segment)
        let usedBefore = engine.writtenEnd
        try engine.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 3, term: 2), entry(1, 4, term: 2)])]))
        let after = try fs.contents(segment)
        #expect(Array(after[0..<usedBefore]) == Array(before[0..<usedBefore]), "existing bytes untouched")
        #expect(try engine.term(group: 1, index: 2) == 1)
        #expect(try engine.term(group: 1, index: 3) == 2)
        #expect(try engine.term(group: 1, index: 5) == nil)
        #expect(engine.summary(of: 1)?.lastIndex == 4)
        if case let .record(header, _) = LogRecordCodec.parse(after, at: usedBefore, previousChecksum: nil) {
            #expect(header.type == .truncation && header.index == 3)
        } else {
            Issue.record("no truncation record after the old entries")
        }
        fs.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/data", options: small)
        #expect(try reopened.entries(group: 1, 1..<5) == [entry(1, 1), entry(1, 2), entry(1, 3, term: 2), entry(1, 4, term: 2)])
    }

    @Test func invalidWritesAreRejectedWithoutStoppingTheEngine() throws {
        let engine = try LogEngine.open(fileSystem: InMemoryFileSystem(), directory: "/data", options: small)
        try engine.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 1), entry(1, 2)])]))
        #expect(throws: StorageError.self) {   // gap
            try engine.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 4)])]))
        }
        #expect(throws: StorageError.self) {   // not contiguous
            try engine.append(WriteBatch([GroupWrite(group: 2, entries: [entry(2, 1), entry(2, 3)])]))
        }
        #expect(throws: StorageError.self) {   // no snapshot covers it
            try engine.append(WriteBatch([GroupWrite(group: 1, compactThrough: 1)]))
        }
        #expect(throws: StorageError.self) {   // same group twice
            try engine.append(WriteBatch([GroupWrite(group: 3, entries: [entry(3, 1)]), GroupWrite(group: 3)]))
        }
        #expect(engine.summary(of: 3) == nil, "a rejected batch writes nothing")
        try engine.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 3)])]))
        #expect(try engine.entries(group: 1, 1..<4).count == 3)
        #expect(throws: StorageError.self) { try engine.entries(group: 1, 1..<5) }
    }

    @Test func rangeReadsRespectByteLimit() throws {
        let engine = try LogEngine.open(fileSystem: InMemoryFileSystem(), directory: "/data", options: small)
        try engine.append(WriteBatch([GroupWrite(group: 9, entries: (1...10).map { entry(9, $0, size: 100) })]))
        #expect(try engine.entries(group: 9, 1..<11, maxBytes: 250).map(\.index) == [1, 2])
        #expect(try engine.entries(group: 9, 5..<6, maxBytes: 1).map(\.index) == [5])
        // Reads see written-but-unsynced records too.
        try engine.write(WriteBatch([GroupWrite(group: 9, entries: [entry(9, 11)])]))
        #expect(try engine.entries(group: 9, 11..<12) == [entry(9, 11)])
    }
}
