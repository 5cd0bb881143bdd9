import AlmanacRaft
import Testing
@testable import AlmanacStorage

@Suite struct PurgeTests {
    let options = LogEngineOptions(segmentSize: 1024, rewriteLiveBytesLimit: 300)

    private func checkpoint(_ engine: LogEngine, group: GroupID, index: LogIndex, term: Term = 1) throws {
        let reference = try engine.snapshots.write(
            group: group, snapshot: Snapshot(metadata: SnapshotMetadata(index: index, term: term, confState: ConfState(voters: [1])),
                                             data: payload(group, index, size: 64)))
        try engine.append(WriteBatch([GroupWrite(group: group, checkpoint: reference, compactThrough: index)]))
    }

    @Test func deadSegmentsDeletedFewLiveRecordsRewrittenAndStateSurvives() throws {
        let fs = InMemoryFileSystem()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        try engine.append(WriteBatch([
            GroupWrite(group: 2, entries: [entry(2, 1), entry(2, 2)]),
            GroupWrite(group: 3, hardState: HardState(term: 4, vote: 2, commit: 0)),
            GroupWrite(group: 1, entries: (1...3).map { entry(1, $0, size: 100) }),
        ]))
        for index in stride(from: LogIndex(4), through: 60, by: 3) {
            try engine.append(WriteBatch([GroupWrite(group: 1, entries: (index..<(index + 3)).map { entry(1, $0, size: 100) })]))
        }
        let segmentsBefore = engine.segmentNames
        #expect(segmentsBefore.count >= 8)
        try checkpoint(engine, group: 1, index: 60)

        let report = try engine.purge()
        #expect(report.rewrittenSegments.first == segmentsBefore[0], "the head segment held only a few live records")
        #expect(report.recordsCopied >= 3, "two entries of group 2 and the hard state of group 3, at least")
        #expect(Set(report.deletedSegments + report.rewrittenSegments).isSuperset(of: segmentsBefore.dropLast()))
        #expect(report.deletedSegments.count >= segmentsBefore.count - 3)
        #expect(report.blockingGroups.isEmpty)
        #expect(engine.segmentNames.allSatisfy { !segmentsBefore.dropLast().contains($0) })
        #expect(try engine.entries(group: 2, 1..<3) == [entry(2, 1), entry(2, 2)])

        fs.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        #expect(try reopened.entries(group: 2, 1..<3) == [entry(2, 1), entry(2, 2)])
        #expect(reopened.summary(of: 3)?.hardState == HardState(term: 4, vote: 2, commit: 0))
        #expect(reopened.summary(of: 1)?.firstIndex == 61)
        #expect(reopened.summary(of: 1)?.snapshot?.index == 60)
        #expect(try reopened.initialState(group: 1).snapshot?.data == payload(1, 60, size: 64))
    }

    @Test func laggingGroupWithManyLiveEntriesIsReportedThenPurgedAfterItsSnapshot() throws {
        let fs = InMemoryFileSystem()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        try engine.append(WriteBatch([GroupWrite(group: 7, entries: (1...12).map { entry(7, $0, size: 100) })]))
        for index in stride(from: LogIndex(1), through: 40, by: 4) {
            try engine.append(WriteBatch([GroupWrite(group: 1, entries: (index..<(index + 4)).map { entry(1, $0, size: 100) })]))
        }
        try checkpoint(engine, group: 1, index: 40)
        let report = try engine.purge()
        #expect(!report.deletedSegments.isEmpty)
        #expect(report.oldestRemainingSegment == engine.segmentNames.first)
        #expect(report.blockingGroups.map(\.group) == [7])
        #expect(report.blockingGroups.first?.firstLiveIndex == 1)
        #expect((report.blockingGroups.first?.liveEntries ?? 0) >= 5)

        try checkpoint(engine, group: 7, index: 12)
        let second = try engine.purge()
        #expect(second.blockingGroups.isEmpty)
        #expect(second.oldestRemainingSegment == nil)
        #expect(engine.segmentNames.count == 1)
        fs.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        #expect(reopened.summary(of: 7)?.firstIndex == 13)
        #expect(reopened.summary(of: 1)?.lastIndex == 40)
    }

    @Test func supersededSnapshotFilesAreRemoved() throws {
        let fs = InMemoryFileSystem()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        try engine.append(WriteBatch([GroupWrite(group: 1, entries: (1...10).map { entry(1, $0) })]))
        try checkpoint(engine, group: 1, index: 4)
        try checkpoint(engine, group: 1, index: 8)
        #expect(try fs.list("/data/snapshots").count == 2)
        let report = try engine.purge()
        #expect(report.deletedSnapshots == ["g1-i4-t1.snap"])
        #expect(try fs.list("/data/snapshots") == ["g1-i8-t1.snap"])
    }

    @Test func randomizedOperationsMatchAModelAcrossPurgesAndCrashes() throws {
        let fs = InMemoryFileSystem()
        var engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        var model = LogModel()
        var terms: [GroupID: Term] = [:]
        var snapshotIndex: [GroupID: LogIndex] = [:]
        var random = SplitMix64(seed: 2024)
        var purges = 0, rewrites = 0
        for step in 0..<700 {
            let group = GroupID(1 + random.next() % 5)
            let first = model.firstIndex[group] ?? 1
            let last = model.lastIndex(group)
            switch random.next() % 20 {
            case 0..<13:
                var start = last + 1
                if last >= first + 2 && random.next() % 6 == 0 {
                    start = last - random.next() % 2
                    terms[group, default: 1] += 1
                }
                let term = terms[group, default: 1]
                let new = (start..<(start + 1 + random.next() % 4)).map { entry(group, $0, term: term, size: Int(random.next() % 120)) }
                model.append(group, new)
                let hardState = HardState(term: term, vote: 1, commit: start - 1)
                model.hardStates[group] = hardState
                try engine.append(WriteBatch([GroupWrite(group: group, entries: new, hardState: hardState)]))
            case 13..<16 where last >= first:
                let index = first + random.next() % (last - first + 1)
                let term = model.entries[group]![index]!.term
                let reference = try engine.snapshots.write(group: group, snapshot: Snapshot(
                    metadata: SnapshotMetadata(index: index, term: term, confState: ConfState(voters: [1, 2, 3])), data: [1, 2, 3]))
                try engine.append(WriteBatch([GroupWrite(group: group, checkpoint: reference, compactThrough: index)]))
                model.compact(group, through: index)
                snapshotIndex[group] = index
            case 16:
                // Install a leader's snapshot that does not match the log: everything is replaced.
                let index = last + 5
                terms[group, default: 1] += 1
                let reference = try engine.snapshots.write(group: group, snapshot: Snapshot(
                    metadata: SnapshotMetadata(index: index, term: terms[group]!, confState: ConfState(voters: [1])), data: [9]))
                try engine.append(WriteBatch([GroupWrite(group: group, installSnapshot: reference)]))
                model.entries[group] = [:]
                model.compact(group, through: index)
                snapshotIndex[group] = index
            case 17, 18:
                let report = try engine.purge()
                purges += 1
                rewrites += report.rewrittenSegments.count
            default:
                fs.crash(.loseUnsynced, seed: UInt64(step))
                engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
                let problems = try mismatches(engine, model)
                #expect(problems == [], "after crash at step \(step)")
                if !problems.isEmpty { return }
                for (group, index) in snapshotIndex {
                    #expect(engine.summary(of: group)?.snapshot?.index == index, "group \(group) snapshot")
                }
            }
        }
        #expect(try mismatches(engine, model) == [])
        #expect(purges > 20 && rewrites > 0)
    }
}
