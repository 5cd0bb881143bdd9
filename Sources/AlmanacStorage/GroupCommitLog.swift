import Dispatch
import Foundation
import Synchronization

/// The concurrent front end of a ``LogEngine``: writers from any number of groups enqueue batches;
/// one writer thread takes everything queued, encodes it, issues ONE fdatasync for all of it, then
/// completes every waiter. Nothing is acknowledged before the sync that covers it has returned.
/// After a failed sync every waiter, and every later call, gets ``StorageError/stopped(reason:)``.
public final class GroupCommitLog: Sendable {
    /// Counters of the front end.
    public struct Statistics: Sendable {
        /// Batches acknowledged durable.
        public var batches = 0
        public var entries = 0
        /// fdatasync calls issued for group commits.
        public var syncs = 0
    }

    private struct Request: Sendable {
        var batch: WriteBatch
        var completion: @Sendable (Result<Void, StorageError>) -> Void
    }

    private struct Queue: Sendable {
        var requests: [Request] = []
        var closing = false
        var stopped: StorageError?
        var statistics = Statistics()
    }

    /// The engine; touched only while holding `engineLock` (the writer thread, or `withEngine`).
    private nonisolated(unsafe) let engine: LogEngine
    /// The engine's file system and directories, for the file deletions a purge makes without it.
    private let fileSystem: any StorageFileSystem
    private let walDirectory: String
    private let snapshotDirectory: String
    private let engineLock = Mutex(())
    private let queue = Mutex(Queue())
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// Told about every successful group commit (metrics); nil costs nothing.
    private let observer: (@Sendable (GroupCommitSample) -> Void)?

    /// Takes ownership of an opened engine and starts the writer thread. `observer` runs after every
    /// successful sync, on the thread that synced (the writer thread or an inline caller): keep it cheap.
    public init(engine: sending LogEngine, observer: (@Sendable (GroupCommitSample) -> Void)? = nil) {
        self.fileSystem = engine.fileSystem
        self.walDirectory = engine.walDirectory
        self.snapshotDirectory = engine.snapshots.directory
        self.engine = engine
        self.observer = observer
        let thread = Thread { [self] in self.writerLoop() }
        thread.name = "almanac-wal-writer"
        thread.start()
    }

    /// Enqueues a batch; `completion` runs on the writer thread once the batch is durable (or failed).
    public func append(_ batch: WriteBatch, completion: @escaping @Sendable (Result<Void, StorageError>) -> Void) {
        let rejected: StorageError? = queue.withLock { queue in
            if let stopped = queue.stopped { return stopped }
            if queue.closing { return .stopped(reason: "log closed") }
            queue.requests.append(Request(batch: batch, completion: completion))
            return nil
        }
        if let rejected {
            completion(.failure(rejected))
        } else {
            wakeup.signal()
        }
    }

    /// Writes and syncs `batch` on the calling thread when the writer has nothing queued and the
    /// engine is free; returns nil (nothing written) otherwise, and the caller uses
    /// ``append(_:completion:)``. Saves the two thread hand-offs of the writer thread for a lone
    /// small batch; the caller must not have batches of its own still in flight.
    public func writeNowIfIdle(_ batch: WriteBatch) -> Result<Void, StorageError>? {
        let admission: Result<Void, StorageError>? = queue.withLock { queue in
            if let stopped = queue.stopped { return .failure(stopped) }
            if queue.closing { return .failure(.stopped(reason: "log closed")) }
            return queue.requests.isEmpty ? .success(()) : nil
        }
        guard let admission else { return nil }
        guard case .success = admission else { return admission }
        guard let (results, fatal) = engineLock.withLockIfAvailable({ _ in writeAndSync([batch]) }) else { return nil }
        let stranded = record([batch], results: results, fatal: fatal)
        if let fatal {
            for request in stranded { request.completion(.failure(fatal)) }
            return .failure(fatal)
        }
        return results[0]
    }

    /// Appends a batch and returns once it is durable.
    public func append(_ batch: WriteBatch) async throws(StorageError) {
        let result: Result<Void, StorageError> = await withCheckedContinuation { continuation in
            append(batch) { continuation.resume(returning: $0) }
        }
        try result.get()
    }

    /// Runs `body` with exclusive access to the engine (reads, purge, snapshots). It waits for
    /// an in-flight group commit to finish.
    public func withEngine<R>(_ body: (LogEngine) throws(StorageError) -> R) throws(StorageError) -> R {
        try engineLock.withLock { (_) throws(StorageError) -> R in try body(engine) }
    }

    public var statistics: Statistics { queue.withLock { $0.statistics } }

    /// Where a ``purge(atBoundary:)`` stands between two of its steps.
    public enum PurgeBoundary: Sendable, Equatable {
        /// Dead segments forgotten by the engine; their files not deleted yet.
        case deadSegmentsForgotten
        case deadSegmentsDeleted
        /// A segment's live records copied to the tail (not yet durable) and the segment forgotten.
        case segmentCopied(String)
        /// A group commit made the copies durable; the old file not deleted yet.
        case copiesDurable(String)
        case segmentDeleted(String)
        /// The report made; superseded snapshot files not deleted yet.
        case concluded
    }

    /// Reclaims WAL space as ``LogEngine/purge()`` does, with the same steps, but holding the engine
    /// only inside each step: the copied records are made durable by a group commit (shared with
    /// the writers'), and the files are deleted and their directory synced without the engine, so
    /// commits go on meanwhile (docs/storage.md, "Purge beside the writers"). `atBoundary` runs between the steps, on
    /// the calling thread (crash tests stop the purge there by throwing). Call it off any event loop: it blocks.
    public func purge(atBoundary boundary: (PurgeBoundary) throws(StorageError) -> Void = { _ in }) throws(StorageError) -> PurgeReport {
        var report = PurgeReport()
        let (activeAtStart, dead) = try withEngine { (engine) throws(StorageError) -> (UInt64, [String]) in
            try engine.checkAlive()
            return (engine.activeSequence, engine.forgetDeadSegments(into: &report))
        }
        try boundary(.deadSegmentsForgotten)
        try deleteWithoutEngine(dead, in: walDirectory)
        try boundary(.deadSegmentsDeleted)
        while let (name, path) = try withEngine({ (engine) throws(StorageError) -> (name: String, path: String)? in
            try engine.rewriteOldestSegment(below: activeAtStart, into: &report)
        }) {
            try boundary(.segmentCopied(name))
            try syncThroughWriter()
            try boundary(.copiesDurable(name))
            try deleteWithoutEngine([path], in: walDirectory)
            try boundary(.segmentDeleted(name))
        }
        let superseded = try withEngine { (engine) throws(StorageError) -> [String] in try engine.concludePurge(into: &report) }
        try boundary(.concluded)
        try deleteWithoutEngine(superseded, in: snapshotDirectory)
        return report
    }

    /// Waits for a group commit of the writer thread (an empty batch joins whatever is queued), so
    /// that everything written before the call is durable.
    private func syncThroughWriter() throws(StorageError) {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Void, StorageError>>(.success(()))
        append(WriteBatch([])) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        try outcome.withLock { $0 }.get()
    }

    /// Deletes files a purge step forgot; a failure stops the log as a failed sync does.
    private func deleteWithoutEngine(_ paths: [String], in directory: String) throws(StorageError) {
        do throws(StorageError) {
            try LogEngine.deleteFiles(paths, in: directory, on: fileSystem)
        } catch {
            let stopped = StorageError.stopped(reason: "fatal I/O failure, never retried: \(error.description)")
            engineLock.withLock { _ in engine.failure = stopped }
            let stranded = queue.withLock { queue in
                queue.stopped = stopped
                defer { queue.requests.removeAll() }
                return queue.requests
            }
            for request in stranded { request.completion(.failure(stopped)) }
            throw stopped
        }
    }

    /// Stops accepting writes, completes what is queued, stops the writer thread and closes the engine.
    public func close() {
        let alreadyClosing = queue.withLock { queue in
            defer { queue.closing = true }
            return queue.closing
        }
        guard !alreadyClosing else { return }
        wakeup.signal()
        finished.wait()
        engineLock.withLock { _ in engine.close() }
    }

    private func writerLoop() {
        while true {
            wakeup.wait()
            let (requests, closing) = queue.withLock { queue in
                defer { queue.requests.removeAll() }
                return (queue.requests, queue.closing)
            }
            if !requests.isEmpty { commit(requests) }
            if closing && queue.withLock({ $0.requests.isEmpty }) {
                finished.signal()
                return
            }
        }
    }

    private func commit(_ requests: [Request]) {
        let batches = requests.map(\.batch)
        let (results, fatal) = engineLock.withLock { _ in writeAndSync(batches) }
        let stranded = record(batches, results: results, fatal: fatal)
        for (request, result) in zip(requests, results) {
            request.completion(fatal.map { .failure($0) } ?? result)
        }
        if let fatal {
            for request in stranded { request.completion(.failure(fatal)) }
        }
    }

    /// Writes `batches` in order and syncs once; the caller holds `engineLock`. A write failing with
    /// `.stopped`, or a failed sync, is fatal; other write failures fail only their batch.
    private func writeAndSync(_ batches: [WriteBatch]) -> (results: [Result<Void, StorageError>], fatal: StorageError?) {
        var results = [Result<Void, StorageError>](repeating: .success(()), count: batches.count)
        let started = observer == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        for (position, batch) in batches.enumerated() {
            do throws(StorageError) {
                try engine.write(batch)
            } catch {
                results[position] = .failure(error)
                if case .stopped = error { return (results, error) }
            }
        }
        let written = observer == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        do throws(StorageError) {
            try engine.sync()
        } catch {
            return (results, error)
        }
        if let observer {
            let synced = DispatchTime.now().uptimeNanoseconds
            observer(GroupCommitSample(batches: batches.count, entries: batches.reduce(0) { $0 + $1.entryCount },
                                       writeNanos: written - started, syncNanos: synced - written))
        }
        return (results, nil)
    }

    /// Counts a group commit, or stops the log after a fatal error and returns the requests still
    /// queued (the caller fails them).
    private func record(_ batches: [WriteBatch], results: [Result<Void, StorageError>], fatal: StorageError?) -> [Request] {
        let entries = zip(batches, results).reduce(0) { total, pair in
            if case .success = pair.1 { return total + pair.0.entryCount }
            return total
        }
        return queue.withLock { queue in
            if let fatal {
                queue.stopped = fatal
                defer { queue.requests.removeAll() }
                return queue.requests
            }
            queue.statistics.syncs += 1
            // A purge's empty batch (``syncThroughWriter()``) is not a batch of the writers'.
            queue.statistics.batches += zip(batches, results).filter { batch, result in
                if case .success = result { !batch.groups.isEmpty } else { false }
            }.count
            queue.statistics.entries += entries
            return []
        }
    }
}
