import AlmanacRaft
import AlmanacWire
import Foundation
import NIOCore
import SwiftProtobuf
import Testing

/// The hand-written PeerBatch codec against the generated code: the same bytes out, the same
/// envelopes back, and the generated path for what it leaves alone.
@Suite struct PeerBatchFastCodecTests {
    private struct Rng: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private static let types: [MessageType] = [
        .append, .appendResponse, .vote, .voteResponse, .preVote, .preVoteResponse, .heartbeat, .heartbeatResponse,
        .readIndex, .readIndexResponse, .timeoutNow,
    ]

    /// Values of every size class (0, one byte, multi-byte, the full 64 bits).
    private static func value(_ rng: inout Rng) -> UInt64 {
        switch rng.next() % 5 {
        case 0: 0
        case 1: rng.next() % 128
        case 2: rng.next() % 100_000
        case 3: UInt64.max - rng.next() % 3
        default: rng.next()
        }
    }

    private static func bytes(_ rng: inout Rng, max: Int) -> [UInt8] {
        let count = rng.next() % 3 == 0 ? 0 : Int(rng.next() % UInt64(max + 1))
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    private static func randomEnvelope(_ rng: inout Rng) -> PeerEnvelope {
        let type = types[Int(rng.next() % UInt64(types.count))]
        var entries: [Entry] = []
        if type == .append || rng.next() % 10 == 0 {
            for _ in 0..<Int(rng.next() % 4) {
                entries.append(Entry(term: value(&rng), index: value(&rng), type: rng.next() % 5 == 0 ? .configChange : .normal,
                                     data: bytes(&rng, max: 300)))
            }
        }
        let pairs: [(NodeID, NodeID)] = [(1, 2), (2, 1), (1, 3), (0, 0)]
        let pair = pairs[Int(rng.next() % UInt64(pairs.count))]
        let message = Message(
            type: type, from: pair.0, to: pair.1, term: value(&rng), logTerm: value(&rng), index: value(&rng), entries: entries,
            commit: value(&rng), reject: rng.next() % 2 == 0, rejectHint: value(&rng), context: bytes(&rng, max: 16))
        return PeerEnvelope(groupID: value(&rng), message: message)
    }

    @Test func encodesTheGeneratedCodesBytesAndDecodesThemBack() throws {
        var rng = Rng(state: 42)
        for round in 0..<400 {
            let envelopes = (0..<Int(rng.next() % 12)).map { _ in Self.randomEnvelope(&rng) }
            let sequence = round % 7 == 0 ? 0 : Self.value(&rng)
            let generated: [UInt8] = try PeerBatchCodec.encode(sequence: sequence, envelopes: envelopes).serializedBytes()
            let fast = try #require(PeerBatchFastCodec.encode(sequence: sequence, envelopes: envelopes))
            #expect(Array(fast.readableBytesView) == generated, "round \(round)")
            let decoded = try #require(PeerBatchFastCodec.decode(ByteBuffer(bytes: generated)))
            #expect(decoded.sequence == sequence)
            let viaGenerated = try PeerBatchCodec.decode(Almanac_Raft_V1_PeerBatch(serializedBytes: generated))
            #expect(decoded.envelopes == viaGenerated, "round \(round)")
        }
    }

    @Test func decodesFieldsInAnyOrderAndSkipsUnknownOnes() throws {
        var message = Almanac_Raft_V1_Message()
        message.type = .append
        message.from = 1
        message.to = 2
        message.entries = [Almanac_Raft_V1_Entry.with { $0.term = 3; $0.index = 4; $0.data = Data([7, 8]) }]
        var envelope = Almanac_Raft_V1_PeerEnvelope()
        envelope.groupID = 9
        envelope.message = message
        var batch = Almanac_Raft_V1_PeerBatch()
        batch.sequence = 5
        batch.envelopes = [envelope]
        // Unknown fields (a varint 15, a fixed64 13, a string 14, a fixed32 12) before the known
        // ones; the sequence repeated (last one wins).
        var bytes: [UInt8] = [15 << 3 | 0, 0x96, 0x01, 13 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8, 14 << 3 | 2, 2, 0x41, 0x42,
                              12 << 3 | 5, 1, 2, 3, 4, 1 << 3, 99]
        bytes += try batch.serializedBytes() as [UInt8]
        let decoded = try #require(PeerBatchFastCodec.decode(ByteBuffer(bytes: bytes)))
        #expect(decoded.sequence == 5)
        #expect(decoded.envelopes == [PeerEnvelope(groupID: 9, message: Message(
            type: .append, from: 1, to: 2, entries: [Entry(term: 3, index: 4, data: [7, 8])]))])
    }

    @Test func leavesSnapshotsAndBadInputToTheGeneratedCode() throws {
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 5, term: 2, confState: ConfState(voters: [1, 2, 3])), data: [1, 2])
        let install = PeerEnvelope(groupID: 1, message: Message(type: .installSnapshot, from: 1, to: 2, term: 2, snapshot: snapshot))
        #expect(PeerBatchFastCodec.encode(sequence: 1, envelopes: [install]) == nil)
        let generated: [UInt8] = try PeerBatchCodec.encode(sequence: 1, envelopes: [install]).serializedBytes()
        #expect(PeerBatchFastCodec.decode(ByteBuffer(bytes: generated)) == nil)
        // Through the frame, both paths give the same values.
        let frame = try PeerFrame.batch(sequence: 1, envelopes: [install]).makeFrame()
        #expect(try PeerFrame(frame: frame) == .batch(sequence: 1, envelopes: [install]))

        // Truncated, a length past the end, an unknown message type, an envelope without a message.
        let good: [UInt8] = try PeerBatchCodec.encode(sequence: 1, envelopes: [PeerEnvelope(
            groupID: 1, message: Message(type: .append, from: 1, to: 2, entries: [Entry(term: 1, index: 1, data: [1, 2, 3])]))])
            .serializedBytes()
        #expect(PeerBatchFastCodec.decode(ByteBuffer(bytes: good.dropLast())) == nil)
        #expect(PeerBatchFastCodec.decode(ByteBuffer(bytes: [2 << 3 | 2, 50, 1])) == nil)
        #expect(PeerBatchFastCodec.decode(ByteBuffer(bytes: [2 << 3 | 2, 4, 2 << 3 | 2, 2, 1 << 3, 77])) == nil)
        #expect(PeerBatchFastCodec.decode(ByteBuffer(bytes: [2 << 3 | 2, 2, 1 << 3, 5])) == nil)
        // ... and the frame decoder still reports the generated code's typed errors for them.
        #expect(throws: WireProtocolError.self) {
            _ = try PeerFrame(frame: Frame(type: .peerBatch, body: ByteBuffer(bytes: [2 << 3 | 2, 4, 2 << 3 | 2, 2, 1 << 3, 77])))
        }
        #expect(throws: WireProtocolError.self) {
            _ = try PeerFrame(frame: Frame(type: .peerBatch, body: ByteBuffer(bytes: [2 << 3 | 2, 2, 1 << 3, 5])))
        }
    }
}
