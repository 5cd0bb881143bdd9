import AlmanacRaft
import AlmanacWire
import Testing

@Suite struct PeerBatchCodecTests {
    private func heartbeat(_ group: GroupID, response: Bool = false, commit: LogIndex = 5, context: [UInt8] = []) -> PeerEnvelope {
        PeerEnvelope(groupID: group, message: Message(type: response ? .heartbeatResponse : .heartbeat, from: 1, to: 2,
                                                      term: 3, commit: commit, context: context))
    }

    @Test func heartbeatsForManyGroupsBecomeOneCoalescedMessagePerPeerPair() throws {
        var envelopes = (1...100).map { heartbeat(GroupID($0), commit: LogIndex($0)) }
        envelopes.append(heartbeat(7, response: true, context: [1]))
        let batch = PeerBatchCodec.encode(sequence: 9, envelopes: envelopes)
        #expect(batch.sequence == 9)
        #expect(batch.envelopes.isEmpty)
        #expect(batch.heartbeats.count == 1)
        #expect(batch.heartbeats[0].groups.count == 101)
        #expect(try PeerBatchCodec.decode(batch) == envelopes)
    }

    @Test func mixedTrafficRoundTripsLosslessly() throws {
        let append = PeerEnvelope(groupID: 4, message: Message(type: .append, from: 1, to: 2, term: 3, logTerm: 3, index: 10,
                                                              entries: [Entry(term: 3, index: 11, data: [1])], commit: 10))
        let vote = PeerEnvelope(groupID: 5, message: Message(type: .vote, from: 1, to: 2, term: 4, logTerm: 3, index: 11))
        // A heartbeat carrying entries is not coalescable and must travel as a plain envelope.
        let oddHeartbeat = PeerEnvelope(groupID: 6, message: Message(type: .heartbeat, from: 1, to: 2, entries: [Entry(term: 1, index: 1)]))
        let reverse = PeerEnvelope(groupID: 8, message: Message(type: .heartbeatResponse, from: 2, to: 1, term: 3, reject: true, rejectHint: 4))
        let input = [heartbeat(1), append, heartbeat(2, context: [9, 9]), vote, oddHeartbeat, reverse, heartbeat(3)]

        let batch = PeerBatchCodec.encode(sequence: 1, envelopes: input)
        #expect(batch.envelopes.count == 3)
        #expect(batch.heartbeats.count == 2)  // (1 -> 2) and (2 -> 1)
        let output = try PeerBatchCodec.decode(batch)
        // Non-heartbeats first, in order; then heartbeats per pair, in order.
        #expect(output == [append, vote, oddHeartbeat, heartbeat(1), heartbeat(2, context: [9, 9]), heartbeat(3), reverse])
        #expect(Set(output) == Set(input))
    }

    @Test func emptyBatch() throws {
        #expect(try PeerBatchCodec.decode(PeerBatchCodec.encode(sequence: 3, envelopes: [])).isEmpty)
    }
}
