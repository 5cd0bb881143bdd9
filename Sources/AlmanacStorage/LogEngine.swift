import AlmanacRaft

/// Tuning of the log engine.
public struct LogEngineOptions: Sendable {
    /// Segment files are preallocated to this size; a new segment starts when a record would not fit.
    public var segmentSize: Int
    /// A sealed segment at the head of the log is rewritten (its live records copied forward) when
    /// it holds at most this many live bytes.
    public var rewriteLiveBytesLimit: Int

    public init(segmentSize: Int = 64 << 20, rewriteLiveBytesLimit: Int? = nil) {
        self.segmentSize = max(segmentSize, SegmentFile.headerSize + RecordHeader.size)
        self.rewriteLiveBytesLimit = rewriteLiveBytesLimit ?? self.segmentSize / 4
    }
}

/// What recovery found.
public struct RecoveryReport: Sendable {
    /// A torn tail cut off the last segment; its bytes were kept in `savedTo`.
    public struct TornTail: Sendable, Equatable {
        public var segment: String
        public var offset: Int
        public var byteCount: Int
        public var savedTo: String
        public var reason: String
    }

    public var segmentsReplayed = 0
    public var recordsReplayed = 0
    public var tornTails: [TornTail] = []
}

/// Counters since open.
public struct LogEngineStatistics: Sendable {
    public var recordsWritten = 0
    public var bytesWritten = 0
    public var syncs = 0
}

/// A summary of one group's durable state.
public struct GroupSummary: Sendable, Equatable {
    public var hardState: HardState
    public var snapshot: SnapshotReference?
    public var firstIndex: LogIndex
    public var lastIndex: LogIndex
}

/// The shared write-ahead log for many Raft groups: deterministic and synchronous, driven by calls.
///
/// `write(_:)` encodes a batch and updates the in-memory indexes; `sync()` writes the buffered
/// records and issues one fdatasync for all of them. A failed sync (or write) stops the engine for
/// good: every later call throws ``StorageError/stopped(reason:)``. Not thread-safe: wrap it in
/// ``GroupCommitLog`` for concurrent writers.
///
/// Directory layout: `LOCK` (flock), `wal/<16 hex digits>.log` segments, `snapshots/*.snap`,
/// `torn/*.torn` (torn tails cut off during recovery).
public final class LogEngine {
    public let fileSystem: any StorageFileSystem
    public let directory: String
    public let options: LogEngineOptions
    public let snapshots: SnapshotStore
    public private(set) var recovery = RecoveryReport()
    public private(set) var statistics = LogEngineStatistics()

    struct Segment {
        var sequence: UInt64
        var path: String
        var file: any StorageFile
        /// Highest entry index written here per group (dead or alive), for truncation liveness.
        var maxEntryIndex: [GroupID: LogIndex] = [:]
    }

    let walDirectory: String
    let tornDirectory: String
    var lockHandle: (any StorageLock)?
    var segments: [UInt64: Segment] = [:]
    var activeSequence: UInt64 = 0
    /// Bytes of the active segment already handed to the file.
    var writtenEnd = 0
    /// Encoded records not yet written to the file.
    var pending: [UInt8] = []
    var lastChecksum: UInt32 = 0
    var unsynced = false
    var groups: [GroupID: GroupLog] = [:]
    var failure: StorageError?

    private init(fileSystem: any StorageFileSystem, directory: String, options: LogEngineOptions) {
        self.fileSystem = fileSystem
        self.directory = directory
        self.options = options
        self.walDirectory = joinPath(directory, "wal")
        self.tornDirectory = joinPath(directory, "torn")
        self.snapshots = SnapshotStore(fileSystem: fileSystem, directory: joinPath(directory, "snapshots"))
    }

    /// Opens (creating if needed) the data directory, takes its lock, replays every segment and
    /// starts a fresh segment for new writes.
    public static func open(fileSystem: any StorageFileSystem, directory: String,
                            options: LogEngineOptions = LogEngineOptions()) throws(StorageError) -> LogEngine {
        let engine = LogEngine(fileSystem: fileSystem, directory: directory, options: options)
        try engine.start()
        return engine
    }

    deinit { close() }

    /// Releases the lock and closes files. Unsynced writes are not synced.
    public func close() {
        for segment in segments.values { segment.file.close() }
        segments = [:]
        lockHandle?.unlock()
        lockHandle = nil
        if failure == nil { failure = .stopped(reason: "engine closed") }
    }

    // MARK: Recovery

    private func start() throws(StorageError) {
        for path in [directory, walDirectory, snapshots.directory, tornDirectory] {
            try fileSystem.createDirectory(path)
        }
        try fileSystem.syncDirectory(directory)
        lockHandle = try fileSystem.lock(joinPath(directory, "LOCK"))
        for name in try fileSystem.list(walDirectory) where name.hasSuffix(".tmp") {
            try fileSystem.delete(joinPath(walDirectory, name))
        }
        for name in try fileSystem.list(snapshots.directory) where name.hasSuffix(".tmp") {
            try fileSystem.delete(joinPath(snapshots.directory, name))
        }
        let sequences = try fileSystem.list(walDirectory).compactMap(SegmentFile.sequence(ofName:)).sorted()
        var replays: [GroupID: GroupReplay] = [:]
        for (position, sequence) in sequences.enumerated() {
            try replaySegment(sequence, isLast: position == sequences.count - 1, into: &replays)
        }
        for (group, replay) in replays {
            switch replay.finish(group: group) {
            case let .success(log): groups[group] = log
            case let .failure(error): throw error
            }
        }
        try openNewSegment(sequence: (sequences.last ?? 0) + 1)
    }

    private func replaySegment(_ sequence: UInt64, isLast: Bool,
                               into replays: inout [GroupID: GroupReplay]) throws(StorageError) {
        let path = joinPath(walDirectory, SegmentFile.name(sequence: sequence))
        let file = try fileSystem.open(path, create: false)
        let bytes = try file.read(at: 0, count: try file.size())
        var chain: UInt32
        switch SegmentFile.parseHeader(bytes, expectedSequence: sequence) {
        case let .success(seed): chain = seed
        case let .failure(error): throw .corruptRecord(file: path, offset: 0, reason: "segment header: \(error.reason)")
        }
        var segment = Segment(sequence: sequence, path: path, file: file)
        var offset = SegmentFile.headerSize
        scan: while true {
            switch LogRecordCodec.parse(bytes, at: offset, previousChecksum: chain) {
            case let .record(header, payloadOffset):
                let location = RecordLocation(segment: sequence, offset: offset, length: RecordHeader.size + header.payloadLength)
                let payload = Array(bytes[payloadOffset..<(payloadOffset + header.payloadLength)])
                do {
                    try replays[header.group, default: GroupReplay()].apply(header, payload: payload, location: location)
                } catch {
                    throw .corruptRecord(file: path, offset: offset, reason: "malformed \(header.type) payload")
                }
                if header.type == .entry {
                    segment.maxEntryIndex[header.group] = max(segment.maxEntryIndex[header.group] ?? 0, header.index)
                }
                recovery.recordsReplayed += 1
                chain = header.checksum
                offset += location.length
            case .end:
                break scan
            case let .invalid(reason):
                guard isLast else { throw .corruptRecord(file: path, offset: offset, reason: reason) }
                if let later = Self.findValidRecord(in: bytes, after: offset) {
                    throw .corruptRecord(file: path, offset: offset,
                        reason: "\(reason); a valid record follows at offset \(later), so this is not a torn tail")
                }
                try cutTornTail(file: file, path: path, bytes: bytes, offset: offset, reason: reason)
                break scan
            }
        }
        recovery.segmentsReplayed += 1
        segments[sequence] = segment
    }

    /// The offset of any checksum-valid record after `offset` (ignoring the chain), if there is one.
    static func findValidRecord(in bytes: [UInt8], after offset: Int) -> Int? {
        guard let last = LogRecordCodec.lastNonZero(bytes, from: offset) else { return nil }
        var position = offset + 1
        while position + RecordHeader.size <= last + 1 {
            if bytes[position + 4] != 0, bytes[position + 4] <= 5, bytes[position + 6] == 0, bytes[position + 7] == 0,
               case .record = LogRecordCodec.parse(bytes, at: position, previousChecksum: nil) {
                return position
            }
            position += 1
        }
        return nil
    }

    private func cutTornTail(file: any StorageFile, path: String, bytes: [UInt8], offset: Int,
                             reason: String) throws(StorageError) {
        let end = (LogRecordCodec.lastNonZero(bytes, from: offset) ?? (offset - 1)) + 1
        let name = (path.split(separator: "/").last.map(String.init) ?? "segment") + "-at-\(offset).torn"
        let savedTo = joinPath(tornDirectory, name)
        try fileSystem.writeFileAtomically(savedTo, bytes: Array(bytes[offset..<max(end, offset)]))
        try file.truncate(to: offset)
        try file.sync()
        recovery.tornTails.append(.init(segment: path, offset: offset, byteCount: end - offset, savedTo: savedTo,
                                        reason: reason))
    }

    // MARK: Segments

    private func openNewSegment(sequence: UInt64) throws(StorageError) {
        let path = joinPath(walDirectory, SegmentFile.name(sequence: sequence))
        let temporary = path + ".tmp"
        let header = SegmentFile.header(sequence: sequence)
        let created = try fileSystem.open(temporary, create: true)
        try created.truncate(to: 0)
        try created.write(header.bytes, at: 0)
        try created.preallocate(options.segmentSize)
        try created.sync()
        created.close()
        try fileSystem.rename(temporary, to: path)
        try fileSystem.syncDirectory(walDirectory)
        segments[sequence] = Segment(sequence: sequence, path: path, file: try fileSystem.open(path, create: false))
        activeSequence = sequence
        writtenEnd = SegmentFile.headerSize
        pending = []
        lastChecksum = header.seed
    }

    /// Seals the active segment (its records made durable first, so only the last segment can
    /// ever have a torn tail) and starts the next one.
    private func rotate() throws(StorageError) {
        try flushPending()
        try activeFile.dataSync()
        statistics.syncs += 1
        try openNewSegment(sequence: activeSequence + 1)
    }

    var activeFile: any StorageFile { segments[activeSequence]!.file }

    /// Hands buffered records to the file without syncing (tests use it to leave unsynced bytes on disk).
    func flushPending() throws(StorageError) {
        guard !pending.isEmpty else { return }
        try activeFile.write(pending, at: writtenEnd)
        writtenEnd += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    /// Encodes one record at the tail of the log.
    func appendRecord(_ type: RecordType, entryType: UInt8 = 0, group: GroupID, index: LogIndex, term: Term,
                      payload: [UInt8]) throws(StorageError) -> RecordLocation {
        let length = RecordHeader.size + payload.count
        if writtenEnd + pending.count + length > options.segmentSize
            && writtenEnd + pending.count > SegmentFile.headerSize {
            try rotate()
        }
        let encoded = LogRecordCodec.encode(type: type, entryType: entryType, group: group, index: index, term: term,
                                            payload: payload, previousChecksum: lastChecksum)
        let location = RecordLocation(segment: activeSequence, offset: writtenEnd + pending.count, length: length)
        pending.append(contentsOf: encoded.bytes)
        lastChecksum = encoded.checksum
        unsynced = true
        statistics.recordsWritten += 1
        statistics.bytesWritten += length
        if type == .entry {
            segments[activeSequence]!.maxEntryIndex[group] = max(segments[activeSequence]!.maxEntryIndex[group] ?? 0, index)
        }
        return location
    }

    // MARK: Writing

    func checkAlive() throws(StorageError) {
        if let failure { throw failure }
    }

    /// Runs `body`; an I/O error inside it stops the engine permanently.
    func fatalOnError<R>(_ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        do {
            return try body()
        } catch {
            let stopped = StorageError.stopped(reason: "fatal I/O failure, never retried: \(error.description)")
            failure = stopped
            throw stopped
        }
    }

    /// Validates and encodes a batch, updating the indexes. Nothing is durable until ``sync()``.
    /// A batch that breaks the log's rules is rejected whole with ``StorageError/invalidRequest(_:)``.
    public func write(_ batch: WriteBatch) throws(StorageError) {
        try checkAlive()
        try validate(batch)
        try fatalOnError { () throws(StorageError) in
            for groupWrite in batch.groups { try apply(groupWrite) }
        }
    }

    /// Makes everything written so far durable with one fdatasync. A failure stops the engine.
    public func sync() throws(StorageError) {
        try checkAlive()
        guard unsynced else { return }
        try fatalOnError { () throws(StorageError) in
            try flushPending()
            try activeFile.dataSync()
        }
        statistics.syncs += 1
        unsynced = false
    }

    /// `write` then `sync`.
    public func append(_ batch: WriteBatch) throws(StorageError) {
        try write(batch)
        try sync()
    }

    private func validate(_ batch: WriteBatch) throws(StorageError) {
        var seen = Set<GroupID>()
        for write in batch.groups {
            let id = write.group
            guard seen.insert(id).inserted else { throw .invalidRequest("group \(id) appears twice in one batch") }
            let log = groups[id] ?? GroupLog()
            var compacted = log.compactedIndex
            var last = log.lastIndex
            var snapshotIndex = log.snapshot?.index ?? 0
            if let install = write.installSnapshot {
                guard install.group == id else { throw .invalidRequest("snapshot of group \(install.group) installed in group \(id)") }
                guard install.index > compacted, install.index >= snapshotIndex else {
                    throw .invalidRequest("group \(id): snapshot at \(install.index) is not newer than the log (compacted through \(compacted), snapshot \(snapshotIndex))")
                }
                let keepsSuffix = install.index <= last && log.term(at: install.index) == install.term
                compacted = install.index
                last = keepsSuffix ? last : install.index
                snapshotIndex = install.index
            }
            if let checkpoint = write.checkpoint {
                guard checkpoint.group == id else { throw .invalidRequest("snapshot of group \(checkpoint.group) recorded in group \(id)") }
                guard checkpoint.index >= snapshotIndex, checkpoint.index <= last else {
                    throw .invalidRequest("group \(id): checkpoint at \(checkpoint.index) outside \(snapshotIndex)...\(last)")
                }
                if write.installSnapshot == nil, checkpoint.index >= compacted,
                   let term = log.term(at: checkpoint.index), term != checkpoint.term {
                    throw .invalidRequest("group \(id): checkpoint term \(checkpoint.term) at \(checkpoint.index), log has term \(term)")
                }
                snapshotIndex = checkpoint.index
            }
            if let first = write.entries.first {
                for (offset, entry) in write.entries.enumerated() where entry.index != first.index + LogIndex(offset) {
                    throw .invalidRequest("group \(id): entries are not contiguous at \(entry.index)")
                }
                guard first.index > compacted, first.index <= last + 1 else {
                    throw .invalidRequest("group \(id): entries start at \(first.index), but the log holds \(compacted + 1)...\(last) (compacted through \(compacted))")
                }
                last = first.index + LogIndex(write.entries.count) - 1
            }
            if let through = write.compactThrough, through > compacted {
                guard through <= snapshotIndex else {
                    throw .invalidRequest("group \(id): cannot compact through \(through): no snapshot covers it (latest snapshot at \(snapshotIndex))")
                }
                guard through <= last else {
                    throw .invalidRequest("group \(id): cannot compact through \(through) past the last entry \(last)")
                }
            }
        }
    }

    private func apply(_ write: GroupWrite) throws(StorageError) {
        let id = write.group
        // Taken out of the dictionary while it changes, so appending does not copy the group's
        // whole entry index (copy-on-write). Any error here stops the engine (`fatalOnError`).
        var log = groups.removeValue(forKey: id) ?? GroupLog()
        defer { groups[id] = log }
        if let install = write.installSnapshot {
            let keepsSuffix = install.index <= log.lastIndex && log.term(at: install.index) == install.term
            log.snapshotLocation = try appendRecord(.snapshot, entryType: RecordType.installedSnapshotFlag, group: id,
                                                    index: install.index, term: install.term,
                                                    payload: RecordPayload.snapshotReference(install))
            log.snapshot = install
            if !keepsSuffix {
                let from = log.compactedIndex + 1
                let location = try appendRecord(.truncation, group: id, index: from, term: 0, payload: [])
                log.truncate(from: from)
                log.truncations.append(TruncationMarker(index: from, location: location))
            }
            log.compactionLocation = try appendRecord(.compaction, group: id, index: install.index, term: install.term,
                                                      payload: [])
            log.compact(through: install.index, term: install.term)
        }
        if let checkpoint = write.checkpoint {
            log.snapshotLocation = try appendRecord(.snapshot, group: id, index: checkpoint.index, term: checkpoint.term,
                                                    payload: RecordPayload.snapshotReference(checkpoint))
            log.snapshot = checkpoint
        }
        if let first = write.entries.first {
            if first.index <= log.lastIndex {
                let location = try appendRecord(.truncation, group: id, index: first.index, term: first.term, payload: [])
                log.truncate(from: first.index)
                log.truncations.append(TruncationMarker(index: first.index, location: location))
            }
            // No reserveCapacity here: reserving an exact size on every batch defeats the array's
            // geometric growth and copies the whole entry index each time (measured: 10% of a leader).
            for entry in write.entries {
                let location = try appendRecord(.entry, entryType: entry.type.rawValue, group: id, index: entry.index,
                                                term: entry.term, payload: entry.data)
                log.entries.append(IndexedEntry(term: entry.term, location: location))
            }
        }
        if let hardState = write.hardState {
            log.hardStateLocation = try appendRecord(.hardState, group: id, index: hardState.commit, term: hardState.term,
                                                     payload: RecordPayload.hardState(hardState))
            log.hardState = hardState
        }
        if let through = write.compactThrough, through > log.compactedIndex, let term = log.term(at: through) {
            log.compactionLocation = try appendRecord(.compaction, group: id, index: through, term: term, payload: [])
            log.compact(through: through, term: term)
        }
    }

    // MARK: Reading

    /// Groups with anything in the log.
    public var groupIDs: [GroupID] { groups.keys.sorted() }

    public func summary(of group: GroupID) -> GroupSummary? {
        guard let log = groups[group] else { return nil }
        return GroupSummary(hardState: log.hardState, snapshot: log.snapshot, firstIndex: log.firstIndex,
                            lastIndex: log.lastIndex)
    }

    /// The term of the entry at `index` (or of the compaction point), nil when unknown.
    public func term(group: GroupID, index: LogIndex) throws(StorageError) -> Term? {
        try checkAlive()
        return groups[group]?.term(at: index)
    }

    /// Entries in `range`; every index must be stored (else ``StorageError/unavailable(_:)``).
    /// Stops early once `maxBytes` of data would be exceeded (at least one entry is returned).
    public func entries(group: GroupID, _ range: Range<LogIndex>, maxBytes: Int = .max) throws(StorageError) -> [Entry] {
        try checkAlive()
        guard let log = groups[group] else { throw .unavailable("group \(group) has no log") }
        guard range.lowerBound >= log.firstIndex, range.upperBound <= log.lastIndex + 1 else {
            throw .unavailable("group \(group): entries \(range.lowerBound)..<\(range.upperBound) not in \(log.firstIndex)...\(log.lastIndex)")
        }
        var result: [Entry] = []
        var bytes = 0
        for index in range {
            let indexed = log.entries[Int(index - log.firstIndex)]
            let (header, payload) = try readRecord(indexed.location)
            guard header.type == .entry, header.group == group, header.index == index else {
                throw .corruptRecord(file: segments[indexed.location.segment]?.path ?? "?", offset: indexed.location.offset,
                                     reason: "index points at the wrong record")
            }
            bytes += payload.count
            if !result.isEmpty && bytes > maxBytes { break }
            result.append(Entry(term: header.term, index: header.index,
                                type: EntryType(rawValue: header.entryType) ?? .normal, data: payload))
        }
        return result
    }

    /// Everything a restarting Raft node of `group` needs.
    public func initialState(group: GroupID) throws(StorageError) -> RaftInitialState {
        try checkAlive()
        guard let log = groups[group] else { return RaftInitialState() }
        var snapshot: Snapshot?
        if let reference = log.snapshot { snapshot = try snapshots.read(reference) }
        let from = max(log.firstIndex, (log.snapshot?.index ?? 0) + 1)
        let entries = from <= log.lastIndex ? try self.entries(group: group, from..<(log.lastIndex + 1)) : []
        return RaftInitialState(hardState: log.hardState, snapshot: snapshot, entries: entries)
    }

    /// Reads and checksum-verifies one record.
    func readRecord(_ location: RecordLocation) throws(StorageError) -> (RecordHeader, [UInt8]) {
        let bytes: [UInt8]
        if location.segment == activeSequence && location.offset >= writtenEnd {
            let start = location.offset - writtenEnd
            bytes = Array(pending[start..<(start + location.length)])
        } else {
            guard let segment = segments[location.segment] else {
                throw .unavailable("segment \(location.segment) no longer exists")
            }
            bytes = try segment.file.read(at: location.offset, count: location.length)
        }
        switch LogRecordCodec.parse(bytes, at: 0, previousChecksum: nil) {
        case let .record(header, payloadOffset):
            return (header, Array(bytes[payloadOffset...]))
        case .end:
            throw .corruptRecord(file: segments[location.segment]?.path ?? "?", offset: location.offset, reason: "record vanished (zeros)")
        case let .invalid(reason):
            throw .corruptRecord(file: segments[location.segment]?.path ?? "?", offset: location.offset, reason: reason)
        }
    }

    /// Segment file names, oldest first (the last is the active one).
    public var segmentNames: [String] {
        segments.keys.sorted().map { SegmentFile.name(sequence: $0) }
    }
}
