import AlmanacRaft

/// Identifier of a Raft group (a journal shard) within the shared log.
public typealias GroupID = UInt64

/// The kinds of records in a segment file.
public enum RecordType: UInt8, Sendable, Hashable {
    /// One log entry: header `index`/`term` are the entry's, the payload is its data.
    case entry = 1
    /// A hard state: header `index` = commit, `term` = term; payload = term, vote, commit.
    case hardState = 2
    /// Entries up to and including `index` (term `term`) are obsolete.
    case compaction = 3
    /// Entries from `index` on are removed (a log conflict); written, never done in place.
    case truncation = 4
    /// A snapshot file at (`index`, `term`); payload = a ``SnapshotReference``. Entry type
    /// ``RecordType/installedSnapshotFlag`` marks a snapshot received from the leader (see there).
    case snapshot = 5

    /// Entry type of a `.snapshot` record that installs a snapshot received from the leader: the
    /// log keeps its suffix only if it holds the snapshot's own entry, and is compacted through
    /// it. The truncation and compaction records that follow say the same, but a crash can keep
    /// this record and lose them, so recovery applies the install here, in log order. Purge runs
    /// only after a sync (when those records are durable) and copies the record forward unflagged.
    static let installedSnapshotFlag: UInt8 = 1
}

/// A record header as stored (little-endian, 40 bytes):
///
/// ```
/// 0  u32 payload length     4  u8 record type     5  u8 entry type    6  u16 reserved (0)
/// 8  u64 group id          16  u64 index         24  u64 term
/// 32 u32 previous record's checksum (chain)      36  u32 CRC32C over bytes 0..<36 and the payload
/// ```
struct RecordHeader: Sendable, Equatable {
    static let size = 40

    var payloadLength: Int
    var type: RecordType
    var entryType: UInt8
    var group: GroupID
    var index: LogIndex
    var term: Term
    var previousChecksum: UInt32
    var checksum: UInt32
}

/// Where a record sits: segment sequence number, byte offset and total length (header + payload).
struct RecordLocation: Sendable, Hashable {
    var segment: UInt64
    var offset: Int
    var length: Int
}

/// Encoding and validation of records.
enum LogRecordCodec {
    /// Largest payload accepted when parsing (guards against a corrupt length field).
    static let maxPayload = 256 << 20

    /// Encodes a record chained to `previousChecksum`; returns the bytes and the record's checksum.
    static func encode(type: RecordType, entryType: UInt8 = 0, group: GroupID, index: LogIndex, term: Term,
                       payload: [UInt8], previousChecksum: UInt32) -> (bytes: [UInt8], checksum: UInt32) {
        var writer = ByteWriter(capacity: RecordHeader.size + payload.count)
        writer.u32(UInt32(payload.count))
        writer.u8(type.rawValue)
        writer.u8(entryType)
        writer.u16(0)
        writer.u64(group)
        writer.u64(index)
        writer.u64(term)
        writer.u32(previousChecksum)
        let checksum = CRC32C.update(CRC32C.checksum(writer.bytes), payload)
        writer.u32(checksum)
        writer.raw(payload)
        return (writer.bytes, checksum)
    }

    /// Outcome of parsing at an offset of a segment image.
    enum Parse {
        case record(RecordHeader, payloadOffset: Int)
        /// Nothing but zero bytes from here to the end (preallocated space) or the end itself.
        case end
        /// Not a valid record here.
        case invalid(String)
    }

    /// Parses the record at `offset` of `bytes`. `previousChecksum` nil skips the chain check.
    static func parse(_ bytes: [UInt8], at offset: Int, previousChecksum: UInt32?) -> Parse {
        let available = bytes.count - offset
        if available <= 0 { return .end }
        if available < RecordHeader.size {
            return allZero(bytes, from: offset) ? .end : .invalid("incomplete header (\(available) bytes)")
        }
        let length = Int(readLE(bytes, offset, as: UInt32.self))
        let rawType = bytes[offset + 4]
        if length == 0 && rawType == 0 && allZero(bytes, from: offset) { return .end }
        guard let type = RecordType(rawValue: rawType) else { return .invalid("unknown record type \(rawType)") }
        guard readLE(bytes, offset + 6, as: UInt16.self) == 0 else { return .invalid("nonzero reserved field") }
        guard length <= maxPayload else { return .invalid("payload length \(length) too large") }
        guard available >= RecordHeader.size + length else {
            return .invalid("incomplete record (needs \(RecordHeader.size + length) bytes, \(available) present)")
        }
        let header = RecordHeader(
            payloadLength: length, type: type, entryType: bytes[offset + 5],
            group: readLE(bytes, offset + 8), index: readLE(bytes, offset + 16), term: readLE(bytes, offset + 24),
            previousChecksum: readLE(bytes, offset + 32), checksum: readLE(bytes, offset + 36))
        let computed = bytes.withUnsafeBytes { raw in
            let head = CRC32C.update(0, buffer: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 36)]))
            let start = offset + RecordHeader.size
            return CRC32C.update(head, buffer: UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)]))
        }
        guard computed == header.checksum else {
            return .invalid("checksum mismatch (stored \(hex(header.checksum)), computed \(hex(computed)))")
        }
        if let previousChecksum, previousChecksum != header.previousChecksum {
            return .invalid("chain broken: record follows checksum \(hex(header.previousChecksum)), "
                + "expected \(hex(previousChecksum)) (misplaced or stale record)")
        }
        return .record(header, payloadOffset: offset + RecordHeader.size)
    }

    static func allZero(_ bytes: [UInt8], from offset: Int) -> Bool {
        lastNonZero(bytes, from: offset) == nil
    }

    /// The position of the last nonzero byte at or after `offset`, if any (word-at-a-time).
    static func lastNonZero(_ bytes: [UInt8], from offset: Int) -> Int? {
        bytes.withUnsafeBytes { raw -> Int? in
            var end = raw.count
            while end > offset && (end - offset) % 8 != 0 {
                if raw[end - 1] != 0 { return end - 1 }
                end -= 1
            }
            while end - 8 >= offset {
                if raw.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self) != 0 {
                    for position in stride(from: end - 1, through: end - 8, by: -1) where raw[position] != 0 {
                        return position
                    }
                }
                end -= 8
            }
            return nil
        }
    }
}

func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

/// Payload codecs for the record types that have structured payloads.
enum RecordPayload {
    static func hardState(_ state: HardState) -> [UInt8] {
        var writer = ByteWriter(capacity: 24)
        writer.u64(state.term)
        writer.u64(state.vote)
        writer.u64(state.commit)
        return writer.bytes
    }

    static func decodeHardState(_ bytes: [UInt8]) throws(ByteReader.Truncated) -> HardState {
        var reader = ByteReader(bytes)
        return HardState(term: try reader.u64(), vote: try reader.u64(), commit: try reader.u64())
    }

    static func confState(_ state: ConfState, into writer: inout ByteWriter) {
        for list in [state.voters, state.learners, state.votersOutgoing, state.learnersNext] {
            writer.u32(UInt32(list.count))
            for node in list { writer.u64(node) }
        }
        writer.u8(state.autoLeave ? 1 : 0)
    }

    static func decodeConfState(_ reader: inout ByteReader) throws(ByteReader.Truncated) -> ConfState {
        var lists: [[NodeID]] = []
        for _ in 0..<4 {
            let count = Int(try reader.u32())
            guard count <= reader.remaining / 8 else { throw ByteReader.Truncated() }
            var list: [NodeID] = []
            list.reserveCapacity(count)
            for _ in 0..<count { list.append(try reader.u64()) }
            lists.append(list)
        }
        return ConfState(voters: lists[0], learners: lists[1], votersOutgoing: lists[2], learnersNext: lists[3],
                         autoLeave: try reader.u8() != 0)
    }

    static func snapshotReference(_ reference: SnapshotReference) -> [UInt8] {
        var writer = ByteWriter()
        writer.lengthPrefixed(Array(reference.fileName.utf8))
        writer.u32(reference.fileChecksum)
        writer.u64(reference.fileSize)
        confState(reference.confState, into: &writer)
        return writer.bytes
    }

    static func decodeSnapshotReference(_ bytes: [UInt8], group: GroupID, index: LogIndex, term: Term)
        throws(ByteReader.Truncated) -> SnapshotReference
    {
        var reader = ByteReader(bytes)
        let name = String(decoding: try reader.lengthPrefixed(), as: UTF8.self)
        let checksum = try reader.u32()
        let size = try reader.u64()
        let conf = try decodeConfState(&reader)
        return SnapshotReference(group: group, index: index, term: term, confState: conf, fileName: name,
                                 fileChecksum: checksum, fileSize: size)
    }
}
