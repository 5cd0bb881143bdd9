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
