import AlmanacRaft
import AlmanacWire
import Foundation
import SwiftProtobuf
import Testing

typealias Message = AlmanacRaft.Message

@Suite struct RaftWireConversionTests {
    static let allMessageTypes: [MessageType] = [
        .append, .appendResponse, .vote, .voteResponse, .preVote, .preVoteResponse, .heartbeat,
        .heartbeatResponse, .installSnapshot, .readIndex, .readIndexResponse, .timeoutNow,
    ]

    static func sampleMessage(_ type: MessageType) -> Message {
        let conf = ConfState(voters: [1, 2, 3], learners: [4], votersOutgoing: [1, 2, 5], learnersNext: [5],
                             autoLeave: true)
        return Message(
            type: type, from: 1, to: 2, term: 7, logTerm: 6, index: 41,
            entries: [Entry(term: 6, index: 42, data: [1, 2, 3]), Entry(term: 7, index: 43),
                      Entry(term: 7, index: 44, type: .configChange, data: [9])],
            commit: 40, reject: true, rejectHint: 39,
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 30, term: 5, confState: conf), data: [0xAB, 0xCD]),
            context: [0xFF, 0x00, 0x01])
    }

    /// Swift -> protobuf -> bytes -> protobuf -> Swift must give back the same value.
    private func roundTrip(_ message: Message) throws -> Message {
        let bytes: [UInt8] = try Almanac_Raft_V1_Message(message).serializedBytes()
        return try Message(wire: Almanac_Raft_V1_Message(serializedBytes: bytes))
    }

    @Test(arguments: allMessageTypes)
    func everyMessageTypeRoundTrips(_ type: MessageType) throws {
        let message = Self.sampleMessage(type)
        #expect(try roundTrip(message) == message)
        // Sparse message: all defaults, no snapshot.
        let sparse = Message(type: type, from: 3, to: 1)
        #expect(try roundTrip(sparse) == sparse)
    }

    @Test func messageTypeNumberingMatchesRaftRawValues() {
        for type in Self.allMessageTypes {
            #expect(Almanac_Raft_V1_MessageType(type).rawValue == Int(type.rawValue))
        }
        #expect(Almanac_Raft_V1_EntryType(.configChange).rawValue == Int(EntryType.configChange.rawValue))
    }

    @Test func snapshotWithoutDataKeepsMetadataAndPresence() throws {
        let message = Message(type: .installSnapshot, from: 1, to: 2, term: 3,
                              snapshot: Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, confState: ConfState()), data: []))
        let back = try roundTrip(message)
        #expect(back.snapshot != nil)
        #expect(back == message)
    }

    @Test func hardStateAndConfStateRoundTrip() throws {
        let hard = HardState(term: .max, vote: 3, commit: 1 << 40)
        let hardBytes: [UInt8] = try Almanac_Raft_V1_HardState(hard).serializedBytes()
        #expect(HardState(wire: try Almanac_Raft_V1_HardState(serializedBytes: hardBytes)) == hard)

        let conf = ConfState(voters: [10, 20], learners: [], votersOutgoing: [10, 30], learnersNext: [30], autoLeave: false)
        let confBytes: [UInt8] = try Almanac_Raft_V1_ConfState(conf).serializedBytes()
        #expect(ConfState(wire: try Almanac_Raft_V1_ConfState(serializedBytes: confBytes)) == conf)

        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 9, term: 2, confState: conf), data: Array(repeating: 7, count: 1000))
        let snapBytes: [UInt8] = try Almanac_Raft_V1_Snapshot(snapshot).serializedBytes()
        #expect(Snapshot(wire: try Almanac_Raft_V1_Snapshot(serializedBytes: snapBytes)) == snapshot)
    }

    @Test func unknownEnumValuesAreTypedErrors() {
        var wire = Almanac_Raft_V1_Message(Message(type: .vote, from: 1, to: 2))
        wire.type = .UNRECOGNIZED(99)
        #expect(throws: WireDecodingError.self) { try Message(wire: wire) }

        var entry = Almanac_Raft_V1_Entry(Entry(term: 1, index: 1))
        entry.type = .UNRECOGNIZED(5)
        #expect(throws: WireDecodingError.self) { try Entry(wire: entry) }
    }

    @Test func envelopeWithoutMessageIsRejected() {
        var wire = Almanac_Raft_V1_PeerEnvelope()
        wire.groupID = 12
        #expect(throws: WireDecodingError.self) { try PeerEnvelope(wire: wire) }
    }
}
