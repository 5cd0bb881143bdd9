import AlmanacRaft
import NIOCore

/// Hand-written protobuf encoding and decoding of `PeerBatch` (proto/raft.proto), the message every
/// replicated write crosses twice per follower. It writes exactly the bytes the generated code
/// writes for the same batch (fields in number order, proto3 defaults left out, heartbeats coalesced
/// as ``PeerBatchCodec`` does), straight from and into the Raft value types: no intermediate
/// generated messages, no storage classes (and their dynamic exclusivity checks), no `Data` copies
/// of entry payloads. The round-trip tests compare it byte for byte with the generated code.
///
/// Batches carrying a snapshot (rare: installSnapshot chunks) are left to the generated code:
/// ``encode(sequence:envelopes:)`` returns nil for them, and ``decode(_:)`` returns nil for any input
/// it does not fully understand (a snapshot, an unknown wire type, a malformed length), so that the
/// generated decoder handles it and reports its errors as before.
public enum PeerBatchFastCodec {
    // MARK: Encoding

    /// The encoded `PeerBatch`, or nil if an envelope carries a snapshot.
    public static func encode(sequence: UInt64, envelopes: [PeerEnvelope]) -> ByteBuffer? {
        var plain: [Int] = []
        plain.reserveCapacity(envelopes.count)
        // Heartbeats coalesced per (from, to), in order of first appearance (as PeerBatchCodec).
        var heartbeatPairs: [(from: NodeID, to: NodeID, members: [Int])] = []
        for (position, envelope) in envelopes.enumerated() {
            let message = envelope.message
            if message.snapshot != nil { return nil }
            guard PeerBatchCodec.isCoalescable(message) else {
                plain.append(position)
                continue
            }
            if let slot = heartbeatPairs.firstIndex(where: { $0.from == message.from && $0.to == message.to }) {
                heartbeatPairs[slot].members.append(position)
            } else {
                heartbeatPairs.append((message.from, message.to, [position]))
            }
        }
        var size = sequence == 0 ? 0 : 1 + varintSize(sequence)
        for position in plain { size += lengthDelimitedSize(envelopeSize(envelopes[position])) }
        for pair in heartbeatPairs { size += lengthDelimitedSize(coalescedSize(pair.from, pair.to, pair.members, envelopes)) }

        var out = ByteBufferAllocator().buffer(capacity: size)
        if sequence != 0 { writeTag(&out, 1, 0); writeVarint(&out, sequence) }
        for position in plain {
            let envelope = envelopes[position]
            writeTag(&out, 2, 2)
            writeVarint(&out, UInt64(envelopeSize(envelope)))
            if envelope.groupID != 0 { writeTag(&out, 1, 0); writeVarint(&out, envelope.groupID) }
            writeTag(&out, 2, 2)
            writeVarint(&out, UInt64(messageSize(envelope.message)))
            writeMessage(&out, envelope.message)
        }
        for pair in heartbeatPairs {
            writeTag(&out, 3, 2)
            writeVarint(&out, UInt64(coalescedSize(pair.from, pair.to, pair.members, envelopes)))
            if pair.from != 0 { writeTag(&out, 1, 0); writeVarint(&out, pair.from) }
            if pair.to != 0 { writeTag(&out, 2, 0); writeVarint(&out, pair.to) }
            for position in pair.members {
                let envelope = envelopes[position]
                writeTag(&out, 3, 2)
                writeVarint(&out, UInt64(groupHeartbeatSize(envelope)))
                writeGroupHeartbeat(&out, envelope)
            }
        }
        return out
    }

    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        // 1 byte per 7 bits; 0 takes one byte.
        let bits = 64 - value.leadingZeroBitCount
        return bits == 0 ? 1 : (bits + 6) / 7
    }

    @inline(__always)
    private static func lengthDelimitedSize(_ length: Int) -> Int { 1 + varintSize(UInt64(length)) + length }

    @inline(__always)
    private static func varintField(_ value: UInt64) -> Int { value == 0 ? 0 : 1 + varintSize(value) }

    private static func envelopeSize(_ envelope: PeerEnvelope) -> Int {
        varintField(envelope.groupID) + lengthDelimitedSize(messageSize(envelope.message))
    }

    private static func entrySize(_ entry: Entry) -> Int {
        varintField(entry.term) + varintField(entry.index) + varintField(UInt64(entryTypeNumber(entry.type)))
            + (entry.data.isEmpty ? 0 : lengthDelimitedSize(entry.data.count))
    }

    private static func messageSize(_ message: Message) -> Int {
        var size = varintField(UInt64(messageTypeNumber(message.type)))
        size += varintField(message.from) + varintField(message.to) + varintField(message.term)
        size += varintField(message.logTerm) + varintField(message.index)
        for entry in message.entries { size += lengthDelimitedSize(entrySize(entry)) }
        size += varintField(message.commit) + (message.reject ? 2 : 0) + varintField(message.rejectHint)
        if !message.context.isEmpty { size += lengthDelimitedSize(message.context.count) }
        return size
    }

    private static func groupHeartbeatSize(_ envelope: PeerEnvelope) -> Int {
        let message = envelope.message
        var size = varintField(envelope.groupID) + (message.type == .heartbeatResponse ? 2 : 0)
        size += varintField(message.term) + varintField(message.logTerm) + varintField(message.index)
        size += varintField(message.commit) + (message.reject ? 2 : 0) + varintField(message.rejectHint)
        if !message.context.isEmpty { size += lengthDelimitedSize(message.context.count) }
        return size
    }

    private static func coalescedSize(_ from: NodeID, _ to: NodeID, _ members: [Int], _ envelopes: [PeerEnvelope]) -> Int {
        var size = varintField(from) + varintField(to)
        for position in members { size += lengthDelimitedSize(groupHeartbeatSize(envelopes[position])) }
        return size
    }

    private static func writeMessage(_ out: inout ByteBuffer, _ message: Message) {
        let type = UInt64(messageTypeNumber(message.type))
        if type != 0 { writeTag(&out, 1, 0); writeVarint(&out, type) }
        if message.from != 0 { writeTag(&out, 2, 0); writeVarint(&out, message.from) }
        if message.to != 0 { writeTag(&out, 3, 0); writeVarint(&out, message.to) }
        if message.term != 0 { writeTag(&out, 4, 0); writeVarint(&out, message.term) }
        if message.logTerm != 0 { writeTag(&out, 5, 0); writeVarint(&out, message.logTerm) }
        if message.index != 0 { writeTag(&out, 6, 0); writeVarint(&out, message.index) }
        for entry in message.entries {
            writeTag(&out, 7, 2)
            writeVarint(&out, UInt64(entrySize(entry)))
            if entry.term != 0 { writeTag(&out, 1, 0); writeVarint(&out, entry.term) }
            if entry.index != 0 { writeTag(&out, 2, 0); writeVarint(&out, entry.index) }
            let entryType = UInt64(entryTypeNumber(entry.type))
            if entryType != 0 { writeTag(&out, 3, 0); writeVarint(&out, entryType) }
            if !entry.data.isEmpty {
                writeTag(&out, 4, 2)
                writeVarint(&out, UInt64(entry.data.count))
                out.writeBytes(entry.data)
            }
        }
        if message.commit != 0 { writeTag(&out, 8, 0); writeVarint(&out, message.commit) }
        if message.reject { writeTag(&out, 9, 0); writeVarint(&out, 1) }
        if message.rejectHint != 0 { writeTag(&out, 10, 0); writeVarint(&out, message.rejectHint) }
        if !message.context.isEmpty {
            writeTag(&out, 12, 2)
            writeVarint(&out, UInt64(message.context.count))
            out.writeBytes(message.context)
        }
    }

    private static func writeGroupHeartbeat(_ out: inout ByteBuffer, _ envelope: PeerEnvelope) {
        let message = envelope.message
        if envelope.groupID != 0 { writeTag(&out, 1, 0); writeVarint(&out, envelope.groupID) }
        if message.type == .heartbeatResponse { writeTag(&out, 2, 0); writeVarint(&out, 1) }
        if message.term != 0 { writeTag(&out, 3, 0); writeVarint(&out, message.term) }
        if message.logTerm != 0 { writeTag(&out, 4, 0); writeVarint(&out, message.logTerm) }
        if message.index != 0 { writeTag(&out, 5, 0); writeVarint(&out, message.index) }
        if message.commit != 0 { writeTag(&out, 6, 0); writeVarint(&out, message.commit) }
        if message.reject { writeTag(&out, 7, 0); writeVarint(&out, 1) }
        if message.rejectHint != 0 { writeTag(&out, 8, 0); writeVarint(&out, message.rejectHint) }
        if !message.context.isEmpty {
            writeTag(&out, 9, 2)
            writeVarint(&out, UInt64(message.context.count))
            out.writeBytes(message.context)
        }
    }

    @inline(__always)
    private static func writeTag(_ out: inout ByteBuffer, _ field: UInt64, _ wireType: UInt64) {
        writeVarint(&out, field << 3 | wireType)
    }

    @inline(__always)
    static func writeVarint(_ out: inout ByteBuffer, _ value: UInt64) {
        var v = value
        while v >= 0x80 {
            out.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.writeInteger(UInt8(truncatingIfNeeded: v))
    }

    private static func messageTypeNumber(_ type: MessageType) -> Int {
        Almanac_Raft_V1_MessageType(type).rawValue
    }

    private static func entryTypeNumber(_ type: EntryType) -> Int {
        Almanac_Raft_V1_EntryType(type).rawValue
    }

    // MARK: Decoding

    /// The batch's sequence and envelopes (heartbeats expanded after the other messages, as
    /// ``PeerBatchCodec/decode(_:)``), or nil when the generated decoder must handle the input.
    public static func decode(_ body: ByteBuffer) -> (sequence: UInt64, envelopes: [PeerEnvelope])? {
        body.withUnsafeReadableBytes { bytes -> (sequence: UInt64, envelopes: [PeerEnvelope])? in
            var reader = Reader(bytes: bytes, position: 0, end: bytes.count)
            var sequence: UInt64 = 0
            var envelopes: [PeerEnvelope] = []
            var heartbeats: [PeerEnvelope] = []
            while !reader.atEnd {
                guard let (field, wireType) = reader.tag() else { return nil }
                switch (field, wireType) {
                case (1, 0):
                    guard let value = reader.varint() else { return nil }
                    sequence = value
                case (2, 2):
                    guard var sub = reader.lengthDelimited(), let envelope = decodeEnvelope(&sub) else { return nil }
                    envelopes.append(envelope)
                case (3, 2):
                    guard var sub = reader.lengthDelimited(), decodeCoalesced(&sub, into: &heartbeats) else { return nil }
                default:
                    guard reader.skip(wireType: wireType) else { return nil }
                }
            }
            envelopes.append(contentsOf: heartbeats)
            return (sequence, envelopes)
        }
    }

    private static func decodeEnvelope(_ reader: inout Reader) -> PeerEnvelope? {
        var group: UInt64 = 0
        var message: Message?
        while !reader.atEnd {
            guard let (field, wireType) = reader.tag() else { return nil }
            switch (field, wireType) {
            case (1, 0):
                guard let value = reader.varint() else { return nil }
                group = value
            case (2, 2):
                // A repeated occurrence of a message field merges in protobuf; leave that to the generated code.
                guard message == nil, var sub = reader.lengthDelimited(), let decoded = decodeMessage(&sub) else { return nil }
                message = decoded
            default:
                guard reader.skip(wireType: wireType) else { return nil }
            }
        }
        // No message: the generated path reports the malformed envelope.
        guard let message else { return nil }
        return PeerEnvelope(groupID: group, message: message)
    }

    private static func decodeMessage(_ reader: inout Reader) -> Message? {
        var message = Message(type: .append, from: 0, to: 0)
        while !reader.atEnd {
            guard let (field, wireType) = reader.tag() else { return nil }
            switch (field, wireType) {
            case (1, 0):
                guard let raw = reader.varint(), let wire = Almanac_Raft_V1_MessageType(rawValue: Int(truncatingIfNeeded: raw)),
                      let type = try? MessageType(wire: wire) else { return nil }
                message.type = type
            case (2, 0): guard let v = reader.varint() else { return nil }; message.from = v
            case (3, 0): guard let v = reader.varint() else { return nil }; message.to = v
            case (4, 0): guard let v = reader.varint() else { return nil }; message.term = v
            case (5, 0): guard let v = reader.varint() else { return nil }; message.logTerm = v
            case (6, 0): guard let v = reader.varint() else { return nil }; message.index = v
            case (7, 2):
                guard var sub = reader.lengthDelimited(), let entry = decodeEntry(&sub) else { return nil }
                message.entries.append(entry)
            case (8, 0): guard let v = reader.varint() else { return nil }; message.commit = v
            case (9, 0): guard let v = reader.varint() else { return nil }; message.reject = v != 0
            case (10, 0): guard let v = reader.varint() else { return nil }; message.rejectHint = v
            case (12, 2):
                guard let bytes = reader.lengthDelimitedBytes() else { return nil }
                message.context = bytes
            case (11, _):
                return nil  // a snapshot: the generated decoder handles it
            default:
                guard reader.skip(wireType: wireType) else { return nil }
            }
        }
        return message
    }

    private static func decodeEntry(_ reader: inout Reader) -> Entry? {
        var entry = Entry(term: 0, index: 0)
        while !reader.atEnd {
            guard let (field, wireType) = reader.tag() else { return nil }
            switch (field, wireType) {
            case (1, 0): guard let v = reader.varint() else { return nil }; entry.term = v
            case (2, 0): guard let v = reader.varint() else { return nil }; entry.index = v
            case (3, 0):
                guard let raw = reader.varint(), let wire = Almanac_Raft_V1_EntryType(rawValue: Int(truncatingIfNeeded: raw)),
                      let type = try? EntryType(wire: wire) else { return nil }
                entry.type = type
            case (4, 2):
                guard let bytes = reader.lengthDelimitedBytes() else { return nil }
                entry.data = bytes
            default:
                guard reader.skip(wireType: wireType) else { return nil }
            }
        }
        return entry
    }

    private static func decodeCoalesced(_ reader: inout Reader, into out: inout [PeerEnvelope]) -> Bool {
        var from: UInt64 = 0
        var to: UInt64 = 0
        // Field order is free on the wire: collect the groups, then stamp from/to.
        var groups: [PeerEnvelope] = []
        while !reader.atEnd {
            guard let (field, wireType) = reader.tag() else { return false }
            switch (field, wireType) {
            case (1, 0): guard let v = reader.varint() else { return false }; from = v
            case (2, 0): guard let v = reader.varint() else { return false }; to = v
            case (3, 2):
                guard var sub = reader.lengthDelimited(), let group = decodeGroupHeartbeat(&sub) else { return false }
                groups.append(group)
            default:
                guard reader.skip(wireType: wireType) else { return false }
            }
        }
        for var group in groups {
            group.message.from = from
            group.message.to = to
            out.append(group)
        }
        return true
    }

    private static func decodeGroupHeartbeat(_ reader: inout Reader) -> PeerEnvelope? {
        var group: UInt64 = 0
        var message = Message(type: .heartbeat, from: 0, to: 0)
        while !reader.atEnd {
            guard let (field, wireType) = reader.tag() else { return nil }
            switch (field, wireType) {
            case (1, 0): guard let v = reader.varint() else { return nil }; group = v
            case (2, 0): guard let v = reader.varint() else { return nil }; message.type = v != 0 ? .heartbeatResponse : .heartbeat
            case (3, 0): guard let v = reader.varint() else { return nil }; message.term = v
            case (4, 0): guard let v = reader.varint() else { return nil }; message.logTerm = v
            case (5, 0): guard let v = reader.varint() else { return nil }; message.index = v
            case (6, 0): guard let v = reader.varint() else { return nil }; message.commit = v
            case (7, 0): guard let v = reader.varint() else { return nil }; message.reject = v != 0
            case (8, 0): guard let v = reader.varint() else { return nil }; message.rejectHint = v
            case (9, 2):
                guard let bytes = reader.lengthDelimitedBytes() else { return nil }
                message.context = bytes
            default:
                guard reader.skip(wireType: wireType) else { return nil }
            }
        }
        return PeerEnvelope(groupID: group, message: message)
    }

    /// A bounds-checked protobuf reader over raw bytes.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        let end: Int

        var atEnd: Bool { position >= end }

        mutating func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while position < end {
                let byte = bytes[position]
                position += 1
                if shift == 63 && byte > 1 { return nil }
                result |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return result }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }

        mutating func tag() -> (field: UInt64, wireType: UInt64)? {
            guard let raw = varint(), raw >> 3 != 0, raw <= UInt64(UInt32.max) else { return nil }
            return (raw >> 3, raw & 7)
        }

        mutating func lengthDelimited() -> Reader? {
            guard let length = varint(), length <= UInt64(end - position) else { return nil }
            let start = position
            position += Int(length)
            return Reader(bytes: bytes, position: start, end: position)
        }

        mutating func lengthDelimitedBytes() -> [UInt8]? {
            guard let sub = lengthDelimited() else { return nil }
            return Array(UnsafeRawBufferPointer(rebasing: bytes[sub.position..<sub.end]))
        }

        mutating func skip(wireType: UInt64) -> Bool {
            switch wireType {
            case 0: return varint() != nil
            case 1:
                guard end - position >= 8 else { return false }
                position += 8
                return true
            case 2: return lengthDelimited() != nil
            case 5:
                guard end - position >= 4 else { return false }
                position += 4
                return true
            default: return false  // groups (3, 4) and invalid wire types: the generated decoder decides
            }
        }
    }
}
