import AlmanacRaft
import Dispatch
import Synchronization
import Testing
@testable import AlmanacStorage

/// The node's purge (`GroupCommitLog.purge`) holds the engine only inside its steps: commits go on
/// while it deletes files and syncs directories, and a crash at any step boundary, with a commit
/// written there, loses nothing acknowledged.
@Suite struct PurgeConcurrencyTests {
    let options = LogEngineOptions(segmentSize: 1024, rewriteLiveBytesLimit: 300)

    /// A log with dead segments, a head segment with a few live records (rewritten), and a
    /// superseded snapshot file: every step of a purge has work.
    private func populate(_ engine: LogEngine, _ model: inout LogModel) throws {
        let head = [entry(2, 1), entry(2, 2)]
        try engine.append(WriteBatch([
            GroupWrite(group: 2, entries: head),
            GroupWrite(group: 3, hardState: HardState(term: 4, vote: 2, commit: 0)),
            GroupWrite(group: 1, entries: (1...3).map { entry(1, $0, size: 100) }),
        ]))
        model.append(2, head)
        model.hardStates[3] = HardState(term: 4, vote: 2, commit: 0)
        for index in stride(from: LogIndex(4), through: 60, by: 3) {
            try engine.append(WriteBatch([GroupWrite(group: 1, entries: (index..<(index + 3)).map { entry(1, $0, size: 100) })]))
        }
        model.append(1, (1...60).map { entry(1, $0, size: 100) })
        for index: LogIndex in [30, 60] {
            let reference = try engine.snapshots.write(group: 1, snapshot: Snapshot(
                metadata: SnapshotMetadata(index: index, term: 1, confState: ConfState(voters: [1])), data: payload(1, index, size: 64)))
            try engine.append(WriteBatch([GroupWrite(group: 1, checkpoint: reference, compactThrough: index)]))
            model.compact(1, through: index)
        }
    }

    /// What a commit written between two steps does: it overwrites the head segment's copied entry
    /// of group 2 (a truncation), and replaces group 3's copied hard state.
    private func interleavedCommit(_ model: inout LogModel) -> WriteBatch {
        let replacement = entry(2, 2, term: 2)
        model.append(2, [replacement])
        model.hardStates[2] = HardState(term: 2, vote: 1, commit: 1)
        model.hardStates[3] = HardState(term: 5, vote: 3, commit: 0)
        return WriteBatch([GroupWrite(group: 2, entries: [replacement], hardState: HardState(term: 2, vote: 1, commit: 1)),
                           GroupWrite(group: 3, hardState: HardState(term: 5, vote: 3, commit: 0))])
    }

    private func appendAndWait(_ log: GroupCommitLog, _ batch: WriteBatch) -> Result<Void, StorageError> {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Void, StorageError>>(.success(()))
        log.append(batch) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return outcome.withLock { $0 }
    }

    @Test func aPurgeRunsEveryStepAndTheLogMatchesTheModelAfterACrash() throws {
        let fs = InMemoryFileSystem()
        var model = LogModel()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        try populate(engine, &model)
        let segmentsBefore = engine.segmentNames
        let log = GroupCommitLog(engine: engine)
        var boundaries: [GroupCommitLog.PurgeBoundary] = []
        let report = try log.purge { boundaries.append($0) }
        log.close()
        #expect(!report.deletedSegments.isEmpty)
        #expect(report.rewrittenSegments == [segmentsBefore[0]])
        #expect(report.deletedSnapshots == ["g1-i30-t1.snap"])
        #expect(boundaries == [.deadSegmentsForgotten, .deadSegmentsDeleted, .segmentCopied(segmentsBefore[0]),
                               .copiesDurable(segmentsBefore[0]), .segmentDeleted(segmentsBefore[0]), .concluded])
        #expect(try fs.list("/data/snapshots") == ["g1-i60-t1.snap"])
        fs.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        #expect(try mismatches(reopened, model) == [])
        #expect(reopened.segmentNames.allSatisfy { !segmentsBefore.dropLast().contains($0) })
        #expect(reopened.summary(of: 1)?.snapshot?.index == 60)
    }

    /// Crash tests at every step boundary: a commit is written there, then the power is cut (the
    /// purge goes no further). Whatever was acknowledged is there after recovery, nothing the
    /// purge forgot comes back wrong, and a purge of the recovered log completes.
    @Test(arguments: 0..<6, [0, 1])
    func aCrashAtEveryStepBoundaryWithACommitInBetweenLosesNothing(boundary: Int, tornSeed: Int) throws {
        let fs = InMemoryFileSystem()
        var model = LogModel()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        try populate(engine, &model)
        let log = GroupCommitLog(engine: engine)
        var reached: GroupCommitLog.PurgeBoundary?
        var step = 0
        do {
            _ = try log.purge { (at) throws(StorageError) in
                defer { step += 1 }
                guard step == boundary else { return }
                reached = at
                let commit = interleavedCommit(&model)
                let acknowledged = appendAndWait(log, commit)
                if case .failure(let error) = acknowledged { Issue.record("the commit at \(at) failed: \(error)") }
                if tornSeed == 0 { fs.crash(.loseUnsynced) } else { fs.crash(.tornPrefix, seed: UInt64(boundary)) }
                throw .stopped(reason: "power cut at \(at)")
            }
        } catch {}
        #expect(reached != nil, "boundary \(boundary) reached")
        log.close()
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        #expect(try mismatches(reopened, model) == [], "after a crash at \(String(describing: reached))")
        #expect(reopened.summary(of: 1)?.snapshot?.index == 60)
        #expect(try reopened.initialState(group: 1).snapshot?.data == payload(1, 60, size: 64))
        let again = GroupCommitLog(engine: reopened)
        _ = try again.purge()
        again.close()
        fs.crash(.loseUnsynced)
        let final = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        #expect(try mismatches(final, model) == [], "after the recovered log's purge")
        #expect(try fs.list("/data/snapshots") == ["g1-i60-t1.snap"])
    }

    /// The purge's directory fsync is held (a slow disk); a commit issued meanwhile completes. Before
    /// the purge ran in steps, it held the engine through that fsync and the commit waited for it.
    @Test func aCommitCompletesWhileAPurgesDirectorySyncIsHeld() throws {
        let fs = HeldDirectorySyncFileSystem()
        var model = LogModel()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        try populate(engine, &model)
        let log = GroupCommitLog(engine: engine)
        fs.holdNextSync(of: "/data/wal")
        let purged = DispatchSemaphore(value: 0)
        let purgeOutcome = Mutex<Result<PurgeReport, StorageError>?>(nil)
        DispatchQueue.global().async {
            let outcome = Result { () throws(StorageError) -> PurgeReport in try log.purge() }
            purgeOutcome.withLock { $0 = outcome }
            purged.signal()
        }
        fs.held.wait()  // the purge is inside its first directory fsync
        let committed = DispatchSemaphore(value: 0)
        log.append(interleavedCommit(&model)) { _ in committed.signal() }
        let inTime = committed.wait(timeout: .now() + .seconds(20)) == .success
        fs.release.signal()
        purged.wait()
        if !inTime { committed.wait() }
        #expect(inTime, "a commit waited for the purge's directory fsync")
        let report = try #require(purgeOutcome.withLock { $0 }).get()
        #expect(!report.deletedSegments.isEmpty && !report.rewrittenSegments.isEmpty)
        log.close()
        fs.disk.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs.disk, directory: "/data", options: options)
        #expect(try mismatches(reopened, model) == [])
    }
}

/// An in-memory disk whose next fsync of one directory blocks until the test releases it.
final class HeldDirectorySyncFileSystem: StorageFileSystem {
    let disk = InMemoryFileSystem()
    /// Signalled when the held fsync begins; signal `release` to let it go on.
    let held = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    private let heldDirectory = Mutex<String?>(nil)

    func holdNextSync(of directory: String) { heldDirectory.withLock { $0 = directory } }

    func syncDirectory(_ directory: String) throws(StorageError) {
        let hold = heldDirectory.withLock { held in
            guard held == directory else { return false }
            held = nil
            return true
        }
        if hold {
            held.signal()
            release.wait()
        }
        try disk.syncDirectory(directory)
    }

    func createDirectory(_ path: String) throws(StorageError) { try disk.createDirectory(path) }
    func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile { try disk.open(path, create: create) }
    func list(_ directory: String) throws(StorageError) -> [String] { try disk.list(directory) }
    func exists(_ path: String) -> Bool { disk.exists(path) }
    func rename(_ from: String, to: String) throws(StorageError) { try disk.rename(from, to: to) }
    func delete(_ path: String) throws(StorageError) { try disk.delete(path) }
    func lock(_ path: String) throws(StorageError) -> any StorageLock { try disk.lock(path) }
}
