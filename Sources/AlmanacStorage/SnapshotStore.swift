import AlmanacRaft

/// A snapshot file as the log refers to it: the snapshot marker record carries all of this.
public struct SnapshotReference: Sendable, Hashable {
    public var group: GroupID
    public var index: LogIndex
    public var term: Term
    public var confState: ConfState
    /// File name inside the snapshot directory.
    public var fileName: String
    /// CRC32C trailer of the file (over everything before it).
    public var fileChecksum: UInt32
    public var fileSize: UInt64

    public var metadata: SnapshotMetadata { SnapshotMetadata(index: index, term: term, confState: confState) }
}

/// Snapshot files. Layout (little-endian):
///
/// ```
/// "ALMSNAP1" | u64 group | u64 index | u64 term | conf state | u64 data length | data | u32 CRC32C of all before
/// ```
/// conf state = four lists (u32 count, u64 ids: voters, learners, outgoing voters, next learners), u8 auto-leave.
/// Files are written under a temporary name, fsynced, renamed, and the directory fsynced.
public struct SnapshotStore: Sendable {
    public let fileSystem: any StorageFileSystem
    public let directory: String
    static let magic: [UInt8] = Array("ALMSNAP1".utf8)

    public init(fileSystem: any StorageFileSystem, directory: String) {
        self.fileSystem = fileSystem
        self.directory = directory
    }

    static func fileName(group: GroupID, index: LogIndex, term: Term) -> String {
        "g\(group)-i\(index)-t\(term).snap"
    }

    /// The file's bytes before the state: magic, group, index, term, conf state, state length.
    static func header(group: GroupID, snapshot: Snapshot) -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        writer.raw(magic)
        writer.u64(group)
        writer.u64(snapshot.metadata.index)
        writer.u64(snapshot.metadata.term)
        RecordPayload.confState(snapshot.metadata.confState, into: &writer)
        writer.u64(UInt64(snapshot.data.count))
        return writer.bytes
    }

    /// Writes a snapshot file crash-safely and returns the reference to record in the log. The
    /// state is written from the snapshot's own buffer, in pieces synced as they go (no file image
    /// is built in memory: a multi-GiB state is not copied).
    public func write(group: GroupID, snapshot: Snapshot) throws(StorageError) -> SnapshotReference {
        let header = Self.header(group: group, snapshot: snapshot)
        let checksum = CRC32C.update(CRC32C.checksum(header), snapshot.data)
        var trailer = ByteWriter(capacity: 4)
        trailer.u32(checksum)
        let name = Self.fileName(group: group, index: snapshot.metadata.index, term: snapshot.metadata.term)
        try fileSystem.writeFileAtomically(joinPath(directory, name), pieces: [header, snapshot.data, trailer.bytes])
        return SnapshotReference(group: group, index: snapshot.metadata.index, term: snapshot.metadata.term,
                                 confState: snapshot.metadata.confState, fileName: name,
                                 fileChecksum: checksum, fileSize: UInt64(header.count + snapshot.data.count + 4))
    }

    /// Reads and verifies a snapshot file in three reads: the header, the state straight into its
    /// own array, and the checksum trailer; the checksum runs over them as they come. One copy of
    /// the state is in memory at any time (reading the whole file, then slicing it, took three).
    static func read(_ file: any StorageFile, size: Int, name: String) throws(StorageError) -> (group: GroupID, snapshot: Snapshot, checksum: UInt32) {
        guard size >= magic.count + 4 else { throw .corruptFile(file: name, reason: "not a snapshot file (too short)") }
        let probe = try file.read(at: 0, count: min(size - 4, 1 << 20))
        guard probe.count >= magic.count, Array(probe[0..<magic.count]) == magic else {
            throw .corruptFile(file: name, reason: "not a snapshot file (bad magic or too short)")
        }
        var reader = ByteReader(probe, position: magic.count)
        let group: GroupID, index: LogIndex, term: Term, conf: ConfState, length: UInt64
        do {
            group = try reader.u64()
            index = try reader.u64()
            term = try reader.u64()
            conf = try RecordPayload.decodeConfState(&reader)
            length = try reader.u64()
        } catch {
            throw .corruptFile(file: name, reason: "malformed snapshot header")
        }
        let dataOffset = reader.position
        guard length <= UInt64(size), UInt64(dataOffset) + length + 4 == UInt64(size) else {
            throw .corruptFile(file: name, reason: "malformed snapshot header")
        }
        let data = try file.read(at: dataOffset, count: Int(length))
        let trailer = try file.read(at: size - 4, count: 4)
        guard data.count == Int(length), trailer.count == 4 else {
            throw .corruptFile(file: name, reason: "shorter than its header says")
        }
        let stored: UInt32 = readLE(trailer, 0)
        let computed = CRC32C.update(CRC32C.checksum(probe[0..<dataOffset]), data)
        guard stored == computed else {
            throw .corruptFile(file: name, reason: "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))")
        }
        return (group, Snapshot(metadata: SnapshotMetadata(index: index, term: term, confState: conf), data: data), stored)
    }

    /// Reads and verifies the snapshot a reference names.
    public func read(_ reference: SnapshotReference) throws(StorageError) -> Snapshot {
        let path = joinPath(directory, reference.fileName)
        let file = try fileSystem.open(path, create: false)
        defer { file.close() }
        let decoded = try Self.read(file, size: try file.size(), name: path)
        guard decoded.group == reference.group, decoded.snapshot.metadata.index == reference.index,
              decoded.snapshot.metadata.term == reference.term, decoded.checksum == reference.fileChecksum
        else {
            throw .corruptFile(file: path, reason: "does not match the log's snapshot record "
                + "(group \(reference.group), index \(reference.index), term \(reference.term))")
        }
        return decoded.snapshot
    }

    /// A chunked reader over a stored snapshot file, for streaming to a lagging follower.
    public func chunks(of reference: SnapshotReference, chunkSize: Int = 1 << 20) throws(StorageError) -> SnapshotChunkReader {
        guard chunkSize > 0 else { throw .invalidRequest("chunk size must be positive") }
        let file = try fileSystem.open(joinPath(directory, reference.fileName), create: false)
        return SnapshotChunkReader(file: file, reference: reference, chunkSize: chunkSize)
    }

    /// Starts receiving a snapshot streamed in chunks; the first chunk describes it.
    public func receiver(for first: SnapshotChunk) throws(StorageError) -> SnapshotReceiver {
        let name = Self.fileName(group: first.group, index: first.index, term: first.term)
        let temporary = joinPath(directory, name + ".recv.tmp")
        let file = try fileSystem.open(temporary, create: true)
        try file.truncate(to: 0)
        return SnapshotReceiver(store: self, file: file, name: name, group: first.group, index: first.index,
                                term: first.term, totalSize: first.totalSize)
    }
}

/// One piece of a snapshot file in transit.
public struct SnapshotChunk: Sendable, Hashable {
    public var group: GroupID
    public var index: LogIndex
    public var term: Term
    /// Offset of `bytes` in the file.
    public var offset: UInt64
    public var totalSize: UInt64
    public var bytes: [UInt8]

    public init(group: GroupID, index: LogIndex, term: Term, offset: UInt64, totalSize: UInt64, bytes: [UInt8]) {
        self.group = group
        self.index = index
        self.term = term
        self.offset = offset
        self.totalSize = totalSize
        self.bytes = bytes
    }

    public var isLast: Bool { offset + UInt64(bytes.count) >= totalSize }
}

/// Reads a snapshot file chunk by chunk.
public final class SnapshotChunkReader {
    private let file: any StorageFile
    public let reference: SnapshotReference
    private let chunkSize: Int
    private var offset: UInt64 = 0

    init(file: any StorageFile, reference: SnapshotReference, chunkSize: Int) {
        self.file = file
        self.reference = reference
        self.chunkSize = chunkSize
    }

    deinit { file.close() }

    /// The chunk starting at `start` (random access; the next ``next()`` continues after it), or nil
    /// at or past the end.
    public func chunk(at start: UInt64) throws(StorageError) -> SnapshotChunk? {
        offset = start
        return try next()
    }

    /// The next chunk, or nil after the last one.
    public func next() throws(StorageError) -> SnapshotChunk? {
        guard offset < reference.fileSize else { return nil }
        let count = Int(min(UInt64(chunkSize), reference.fileSize - offset))
        let bytes = try file.read(at: Int(offset), count: count)
        guard bytes.count == count else {
            throw .corruptFile(file: file.path, reason: "shorter than the \(reference.fileSize) bytes recorded")
        }
        defer { offset += UInt64(count) }
        return SnapshotChunk(group: reference.group, index: reference.index, term: reference.term, offset: offset,
                             totalSize: reference.fileSize, bytes: bytes)
    }
}

/// Assembles a streamed snapshot: chunks must arrive in order (a resent chunk already received is
/// ignored). `finish()` verifies the checksum and metadata, fsyncs, renames into place and fsyncs
/// the directory; the caller then installs it in the log with a ``GroupWrite``.
public final class SnapshotReceiver {
    private let store: SnapshotStore
    private let file: any StorageFile
    private let name: String
    public let group: GroupID
    public let index: LogIndex
    public let term: Term
    public let totalSize: UInt64
    public private(set) var received: UInt64 = 0
    private var closed = false

    init(store: SnapshotStore, file: any StorageFile, name: String, group: GroupID, index: LogIndex, term: Term,
         totalSize: UInt64) {
        self.store = store
        self.file = file
        self.name = name
        self.group = group
        self.index = index
        self.term = term
        self.totalSize = totalSize
    }

    deinit { if !closed { file.close() } }

    public func receive(_ chunk: SnapshotChunk) throws(StorageError) {
        guard chunk.group == group, chunk.index == index, chunk.term == term, chunk.totalSize == totalSize else {
            throw .invalidRequest("chunk for snapshot (group \(chunk.group), index \(chunk.index), term \(chunk.term)) "
                + "sent to the receiver of (group \(group), index \(index), term \(term))")
        }
        if chunk.offset + UInt64(chunk.bytes.count) <= received { return }
        guard chunk.offset == received else {
            throw .invalidRequest("snapshot chunk at offset \(chunk.offset), expected \(received)")
        }
        guard received + UInt64(chunk.bytes.count) <= totalSize else {
            throw .invalidRequest("snapshot chunk runs past the announced size \(totalSize)")
        }
        try file.write(chunk.bytes, at: Int(chunk.offset))
        received += UInt64(chunk.bytes.count)
        // Writeback of what arrived starts now, a few megabytes at a time, so that the sync after
        // the last chunk (a 1.2 GB file took seconds at the disk's rate) has little left to do.
        if received - writebackStarted >= Self.writebackStep || received == totalSize {
            file.startWriteback(offset: Int(writebackStarted), count: Int(received - writebackStarted))
            writebackStarted = received
        }
    }

    /// Bytes between two early writebacks.
    static var writebackStep: UInt64 { 8 << 20 }
    /// Bytes whose writeback has been started.
    private var writebackStarted: UInt64 = 0

    public var isComplete: Bool { received == totalSize }

    /// Verifies the assembled file and moves it into place.
    public func finish() throws(StorageError) -> SnapshotReference {
        try store.finish(try detach())
    }

    /// Closes the complete file and describes it, so that it can be verified and moved into place
    /// elsewhere (``SnapshotStore/finish(_:)``, off the event loop). The receiver is done after it.
    public func detach() throws(StorageError) -> ReceivedSnapshotFile {
        guard isComplete else { throw .invalidRequest("snapshot incomplete: \(received) of \(totalSize) bytes") }
        if !closed {
            closed = true
            file.close()
        }
        return ReceivedSnapshotFile(temporaryPath: file.path, name: name, group: group, index: index, term: term, totalSize: totalSize)
    }
}

/// A snapshot file fully received into a temporary file, not yet verified.
public struct ReceivedSnapshotFile: Sendable, Hashable {
    public var temporaryPath: String
    public var name: String
    public var group: GroupID
    public var index: LogIndex
    public var term: Term
    public var totalSize: UInt64
}

extension SnapshotStore {
    /// Verifies a received file (checksum, and the group, index and term it announced), fsyncs it,
    /// renames it into place and fsyncs the directory.
    public func finish(_ received: ReceivedSnapshotFile) throws(StorageError) -> SnapshotReference {
        try finishAndRead(received).reference
    }

    /// ``finish(_:)``, also returning the snapshot it verified (read and decoded once).
    public func finishAndRead(_ received: ReceivedSnapshotFile) throws(StorageError) -> (reference: SnapshotReference, snapshot: Snapshot) {
        let file = try fileSystem.open(received.temporaryPath, create: false)
        defer { file.close() }
        let decoded = try SnapshotStore.read(file, size: Int(received.totalSize), name: file.path)
        let meta = decoded.snapshot.metadata
        guard decoded.group == received.group, meta.index == received.index, meta.term == received.term else {
            throw .corruptFile(file: file.path, reason: "contents describe (group \(decoded.group), index \(meta.index), "
                + "term \(meta.term)), announced (group \(received.group), index \(received.index), term \(received.term))")
        }
        try file.sync()
        let path = joinPath(directory, received.name)
        try fileSystem.rename(file.path, to: path)
        try fileSystem.syncDirectory(directory)
        let reference = SnapshotReference(group: received.group, index: received.index, term: received.term, confState: meta.confState,
                                          fileName: received.name, fileChecksum: decoded.checksum, fileSize: received.totalSize)
        return (reference, decoded.snapshot)
    }
}
