import AlmanacRaft
import Foundation
import Synchronization
import Testing
@testable import AlmanacStorage

@Suite struct GroupCommitTests {
    @Test func concurrentWritersShareSyncsAndEverythingAcknowledgedIsDurable() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let options = LogEngineOptions(segmentSize: 1 << 18)
        let log = GroupCommitLog(engine: try LogEngine.open(fileSystem: POSIXFileSystem(), directory: directory, options: options))
        let groups = 32, perGroup = 20
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for group in GroupID(1)...GroupID(groups) {
                tasks.addTask {
                    for index in LogIndex(1)...LogIndex(perGroup) {
                        try await log.append(WriteBatch([GroupWrite(group: group, entries: [entry(group, index)],
                                                                    hardState: HardState(term: 1, commit: index))]))
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let stats = log.statistics
        #expect(stats.batches == groups * perGroup)
        #expect(stats.entries == groups * perGroup)
        #expect(stats.syncs < stats.batches, "group commit should cover several batches per sync")
        let summary = try log.withEngine { $0.summary(of: 5) }
        #expect(summary?.lastIndex == LogIndex(perGroup))
        log.close()
        let reopened = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: directory, options: options)
        for group in GroupID(1)...GroupID(groups) {
            #expect(try reopened.entries(group: group, 1..<LogIndex(perGroup + 1)) == (1...LogIndex(perGroup)).map { entry(group, $0) })
            #expect(reopened.summary(of: group)?.hardState == HardState(term: 1, commit: LogIndex(perGroup)))
        }
        reopened.close()
    }

    @Test func aBatchWrittenOnTheCallersThreadIsDurableAndCounted() async throws {
        let fs = InMemoryFileSystem()
        let log = GroupCommitLog(engine: try LogEngine.open(fileSystem: fs, directory: "/data", options: small))
        let first = log.writeNowIfIdle(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 1)], hardState: HardState(term: 1, commit: 1))]))
        guard case .success? = first else {
            Issue.record("an idle log must take the batch on the caller's thread, got \(String(describing: first))")
            return
        }
        // An invalid batch fails alone, as through the writer thread; the log keeps working.
        let gap = log.writeNowIfIdle(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 5)])]))
        guard case .failure? = gap else {
            Issue.record("a batch with a gap must fail, got \(String(describing: gap))")
            return
        }
        try await log.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 2)])]))
        let stats = log.statistics
        #expect(stats.batches == 2 && stats.entries == 2)
        log.close()
        fs.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/data", options: small)
        #expect(try reopened.entries(group: 1, 1..<3) == [entry(1, 1), entry(1, 2)])
        reopened.close()
        // A closed log refuses instead of writing.
        guard case .failure? = log.writeNowIfIdle(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 3)])])) else {
            Issue.record("a closed log must refuse")
            return
        }
    }

    @Test func invalidBatchFailsOnlyItsWaiter() async throws {
        let log = GroupCommitLog(engine: try LogEngine.open(fileSystem: InMemoryFileSystem(), directory: "/data", options: small))
        try await log.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 1)])]))
        await #expect(throws: StorageError.self) {
            try await log.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 5)])]))
        }
        try await log.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 2)])]))
        #expect(try log.withEngine { $0.summary(of: 1)?.lastIndex } == 2)
        log.close()
        // Closed: later appends fail clearly.
        await #expect(throws: StorageError.self) {
            try await log.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 3)])]))
        }
    }
}
