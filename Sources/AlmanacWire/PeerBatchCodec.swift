import AlmanacRaft
import Foundation

/// Packs Raft traffic for one peer into a `PeerBatch`, coalescing heartbeats: every heartbeat (and
/// heartbeat response) between the same two Raft peers, across all groups, becomes one
/// `CoalescedHeartbeat` listing the groups. Unpacking is lossless.
///
/// Order: non-heartbeat messages keep their order, and each group's heartbeats keep theirs; heartbeats are
/// delivered after the other messages of the same batch (Raft tolerates reordering between messages).
public enum PeerBatchCodec {
    /// Whether `message` travels inside a coalesced heartbeat.
    public static func isCoalescable(_ message: Message) -> Bool {
        (message.type == .heartbeat || message.type == .heartbeatResponse)
            && message.entries.isEmpty && message.snapshot == nil
    }

    /// Builds the batch message for `envelopes`.
    public static func encode(sequence: UInt64, envelopes: [PeerEnvelope]) -> Almanac_Raft_V1_PeerBatch {
        var batch = Almanac_Raft_V1_PeerBatch()
        batch.sequence = sequence
        var heartbeatSlots: [PeerPair: Int] = [:]
        for envelope in envelopes {
            let message = envelope.message
            guard isCoalescable(message) else {
                batch.envelopes.append(Almanac_Raft_V1_PeerEnvelope(envelope))
                continue
            }
            let pair = PeerPair(from: message.from, to: message.to)
            let slot: Int
            if let existing = heartbeatSlots[pair] {
                slot = existing
            } else {
                var coalesced = Almanac_Raft_V1_CoalescedHeartbeat()
                coalesced.from = message.from
                coalesced.to = message.to
                slot = batch.heartbeats.count
                batch.heartbeats.append(coalesced)
                heartbeatSlots[pair] = slot
            }
            batch.heartbeats[slot].groups.append(groupHeartbeat(envelope.groupID, message))
        }
        return batch
    }

    /// Expands a batch back into envelopes.
    public static func decode(_ batch: Almanac_Raft_V1_PeerBatch) throws(WireDecodingError) -> [PeerEnvelope] {
        var envelopes: [PeerEnvelope] = []
        envelopes.reserveCapacity(batch.envelopes.count + batch.heartbeats.reduce(0) { $0 + $1.groups.count })
        for envelope in batch.envelopes {
            envelopes.append(try PeerEnvelope(wire: envelope))
        }
        for coalesced in batch.heartbeats {
            for group in coalesced.groups {
                let message = Message(
                    type: group.response ? .heartbeatResponse : .heartbeat, from: coalesced.from, to: coalesced.to,
                    term: group.term, logTerm: group.logTerm, index: group.index, commit: group.commit,
                    reject: group.reject, rejectHint: group.rejectHint, context: [UInt8](group.context))
                envelopes.append(PeerEnvelope(groupID: group.groupID, message: message))
            }
        }
        return envelopes
    }

    private struct PeerPair: Hashable {
        var from: NodeID
        var to: NodeID
    }

    private static func groupHeartbeat(_ group: GroupID, _ message: Message) -> Almanac_Raft_V1_GroupHeartbeat {
        var heartbeat = Almanac_Raft_V1_GroupHeartbeat()
        heartbeat.groupID = group
        heartbeat.response = message.type == .heartbeatResponse
        heartbeat.term = message.term
        heartbeat.logTerm = message.logTerm
        heartbeat.index = message.index
        heartbeat.commit = message.commit
        heartbeat.reject = message.reject
        heartbeat.rejectHint = message.rejectHint
        if !message.context.isEmpty { heartbeat.context = Data(message.context) }
        return heartbeat
    }
}
