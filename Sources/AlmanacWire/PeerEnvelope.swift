import AlmanacRaft

/// Identifier of a Raft group (a journal shard) hosted by nodes.
public typealias GroupID = UInt64

/// A Raft message addressed to one group on the receiving node.
public struct PeerEnvelope: Sendable, Hashable {
    public var groupID: GroupID
    public var message: Message

    public init(groupID: GroupID, message: Message) {
        self.groupID = groupID
        self.message = message
    }

    /// Rough encoded size, for batching and queue bounds (not exact; cheap to compute).
    public var estimatedSize: Int {
        var size = 48 + message.context.count
        for entry in message.entries {
            size += 24 + entry.data.count
        }
        if let snapshot = message.snapshot {
            size += 32 + snapshot.data.count + 8 * (snapshot.metadata.confState.voters.count
                + snapshot.metadata.confState.learners.count + snapshot.metadata.confState.votersOutgoing.count
                + snapshot.metadata.confState.learnersNext.count)
        }
        return size
    }
}

extension Almanac_Raft_V1_PeerEnvelope {
    public init(_ envelope: PeerEnvelope) {
        self.init()
        groupID = envelope.groupID
        message = Almanac_Raft_V1_Message(envelope.message)
    }
}

extension PeerEnvelope {
    /// An envelope without a message is malformed.
    public init(wire: Almanac_Raft_V1_PeerEnvelope) throws(WireDecodingError) {
        guard wire.hasMessage else {
            throw WireDecodingError("peer envelope for group \(wire.groupID) carries no message")
        }
        self.init(groupID: wire.groupID, message: try Message(wire: wire.message))
    }
}
