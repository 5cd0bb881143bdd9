import AlmanacRaft
import Testing
@testable import AlmanacStorage

@Suite struct FatalSyncTests {
    @Test func failedSyncStopsTheEngineForGoodAndIsNeverRetried() throws {
        let fs = InMemoryFileSystem()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: small)
        try engine.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 1)])]))
        fs.failSyncs(after: 0)
        #expect(throws: StorageError.self) {
            try engine.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 2)])]))
        }
        fs.failSyncs(after: 1_000)   // the disk "recovers": the engine must still refuse
        let syncsBefore = fs.syncCount
        do {
            try engine.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 3)])]))
            Issue.record("a stopped engine accepted a write")
        } catch {
            guard case let .stopped(reason) = error else {
                Issue.record("expected .stopped, got \(error)")
                return
            }
            #expect(reason.contains("fsync"))
            #expect(error.description.contains("stopped"))
        }
        #expect(throws: StorageError.self) { try engine.sync() }
        #expect(throws: StorageError.self) { try engine.entries(group: 1, 1..<2) }
        #expect(fs.syncCount == syncsBefore, "no sync was retried")
        // After a crash the unsynced entry 2 is gone and entry 1 is intact.
        fs.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/data", options: small)
        #expect(reopened.summary(of: 1)?.lastIndex == 1)
        #expect(try reopened.entries(group: 1, 1..<2) == [entry(1, 1)])
    }

    @Test func groupCommitFailsEveryWaiterAndEveryLaterCall() async throws {
        let fs = InMemoryFileSystem()
        let log = GroupCommitLog(engine: try LogEngine.open(fileSystem: fs, directory: "/data", options: small))
        try await log.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 1)])]))
        fs.failSyncs(after: 0)
        let failures = await withTaskGroup(of: Bool.self) { tasks in
            for group in GroupID(2)...9 {
                tasks.addTask {
                    do {
                        try await log.append(WriteBatch([GroupWrite(group: group, entries: [entry(group, 1)])]))
                        return false
                    } catch {
                        if case .stopped? = error as? StorageError { return true }
                        return false
                    }
                }
            }
            var count = 0
            for await failed in tasks where failed { count += 1 }
            return count
        }
        #expect(failures == 8, "every waiter fails with .stopped; none is acknowledged")
        fs.failSyncs(after: 1_000)
        await #expect(throws: StorageError.self) {
            try await log.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 2)])]))
        }
        log.close()
    }
}
