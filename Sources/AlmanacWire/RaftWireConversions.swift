import AlmanacRaft
import Foundation

// Converters between the AlmanacRaft value types and their generated protobuf messages (proto/raft.proto).
// Swift -> wire never fails; wire -> Swift throws WireDecodingError for values this version cannot represent.

extension Almanac_Raft_V1_EntryType {
    public init(_ type: EntryType) {
        switch type {
        case .normal: self = .normal
        case .configChange: self = .configChange
        }
    }
}

extension EntryType {
    public init(wire: Almanac_Raft_V1_EntryType) throws(WireDecodingError) {
        switch wire {
        case .normal: self = .normal
        case .configChange: self = .configChange
        case .UNRECOGNIZED(let raw): throw WireDecodingError("unknown entry type \(raw)")
        }
    }
}

extension Almanac_Raft_V1_Entry {
    public init(_ entry: Entry) {
        self.init()
        term = entry.term
        index = entry.index
        type = Almanac_Raft_V1_EntryType(entry.type)
        if !entry.data.isEmpty { data = Data(entry.data) }
    }
}

extension Entry {
    public init(wire: Almanac_Raft_V1_Entry) throws(WireDecodingError) {
        self.init(term: wire.term, index: wire.index, type: try EntryType(wire: wire.type), data: [UInt8](wire.data))
    }
}

extension Almanac_Raft_V1_HardState {
    public init(_ state: HardState) {
        self.init()
        term = state.term
        vote = state.vote
        commit = state.commit
    }
}

extension HardState {
    public init(wire: Almanac_Raft_V1_HardState) {
        self.init(term: wire.term, vote: wire.vote, commit: wire.commit)
    }
}

extension Almanac_Raft_V1_ConfState {
    public init(_ state: ConfState) {
        self.init()
        voters = state.voters
        learners = state.learners
        votersOutgoing = state.votersOutgoing
        learnersNext = state.learnersNext
        autoLeave = state.autoLeave
    }
}

extension ConfState {
    public init(wire: Almanac_Raft_V1_ConfState) {
        self.init(voters: wire.voters, learners: wire.learners, votersOutgoing: wire.votersOutgoing,
                  learnersNext: wire.learnersNext, autoLeave: wire.autoLeave)
    }
}

extension Almanac_Raft_V1_SnapshotMetadata {
    public init(_ metadata: SnapshotMetadata) {
        self.init()
        index = metadata.index
        term = metadata.term
        confState = Almanac_Raft_V1_ConfState(metadata.confState)
    }
}

extension SnapshotMetadata {
    /// An absent `conf_state` reads as the empty configuration (proto3 default).
    public init(wire: Almanac_Raft_V1_SnapshotMetadata) {
        self.init(index: wire.index, term: wire.term, confState: ConfState(wire: wire.confState))
    }
}

extension Almanac_Raft_V1_Snapshot {
    public init(_ snapshot: Snapshot) {
        self.init()
        metadata = Almanac_Raft_V1_SnapshotMetadata(snapshot.metadata)
        if !snapshot.data.isEmpty { data = Data(snapshot.data) }
    }
}

extension Snapshot {
    public init(wire: Almanac_Raft_V1_Snapshot) {
        self.init(metadata: SnapshotMetadata(wire: wire.metadata), data: [UInt8](wire.data))
    }
}

extension Almanac_Raft_V1_MessageType {
    public init(_ type: MessageType) {
        switch type {
        case .append: self = .append
        case .appendResponse: self = .appendResponse
        case .vote: self = .vote
        case .voteResponse: self = .voteResponse
        case .preVote: self = .preVote
        case .preVoteResponse: self = .preVoteResponse
        case .heartbeat: self = .heartbeat
        case .heartbeatResponse: self = .heartbeatResponse
        case .installSnapshot: self = .installSnapshot
        case .readIndex: self = .readIndex
        case .readIndexResponse: self = .readIndexResponse
        case .timeoutNow: self = .timeoutNow
        }
    }
}

extension MessageType {
    public init(wire: Almanac_Raft_V1_MessageType) throws(WireDecodingError) {
        switch wire {
        case .append: self = .append
        case .appendResponse: self = .appendResponse
        case .vote: self = .vote
        case .voteResponse: self = .voteResponse
        case .preVote: self = .preVote
        case .preVoteResponse: self = .preVoteResponse
        case .heartbeat: self = .heartbeat
        case .heartbeatResponse: self = .heartbeatResponse
        case .installSnapshot: self = .installSnapshot
        case .readIndex: self = .readIndex
        case .readIndexResponse: self = .readIndexResponse
        case .timeoutNow: self = .timeoutNow
        case .UNRECOGNIZED(let raw): throw WireDecodingError("unknown Raft message type \(raw)")
        }
    }
}

extension Almanac_Raft_V1_Message {
    public init(_ message: Message) {
        self.init()
        type = Almanac_Raft_V1_MessageType(message.type)
        from = message.from
        to = message.to
        term = message.term
        logTerm = message.logTerm
        index = message.index
        if !message.entries.isEmpty { entries = message.entries.map(Almanac_Raft_V1_Entry.init) }
        commit = message.commit
        reject = message.reject
        rejectHint = message.rejectHint
        if let snapshot = message.snapshot { self.snapshot = Almanac_Raft_V1_Snapshot(snapshot) }
        if !message.context.isEmpty { context = Data(message.context) }
    }
}

extension Message {
    public init(wire: Almanac_Raft_V1_Message) throws(WireDecodingError) {
        var entries: [Entry] = []
        entries.reserveCapacity(wire.entries.count)
        for entry in wire.entries {
            entries.append(try Entry(wire: entry))
        }
        self.init(type: try MessageType(wire: wire.type), from: wire.from, to: wire.to, term: wire.term,
                  logTerm: wire.logTerm, index: wire.index, entries: entries, commit: wire.commit,
                  reject: wire.reject, rejectHint: wire.rejectHint,
                  snapshot: wire.hasSnapshot ? Snapshot(wire: wire.snapshot) : nil,
                  context: [UInt8](wire.context))
    }
}
