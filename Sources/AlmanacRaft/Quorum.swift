/// Outcome of counting votes in a (possibly joint) configuration.
enum VoteResult: Sendable, Hashable {
    /// Neither won nor lost yet: some voters have not answered.
    case pending
    /// A quorum granted the vote.
    case won
    /// A quorum can no longer be reached.
    case lost
}

/// A simple majority configuration: a set of voters, any majority of which is a quorum.
struct MajorityConfig: Sendable, Hashable {
    /// Sorted voter ids (sorted so that every iteration is deterministic).
    private(set) var ids: [NodeID]

    init<S: Sequence>(_ ids: S) where S.Element == NodeID {
        self.ids = Array(Set(ids)).sorted()
    }

    var isEmpty: Bool { ids.isEmpty }
    var count: Int { ids.count }
    func contains(_ id: NodeID) -> Bool { ids.contains(id) }

    mutating func insert(_ id: NodeID) {
        if !ids.contains(id) { ids.append(id); ids.sort() }
    }

    mutating func remove(_ id: NodeID) {
        ids.removeAll { $0 == id }
    }

    /// The largest index acknowledged by a majority. An empty configuration returns `LogIndex.max`
    /// so that it never constrains a joint configuration.
    func committedIndex(match: (NodeID) -> LogIndex) -> LogIndex {
        if ids.isEmpty { return LogIndex.max }
        let sorted = ids.map(match).sorted(by: >)
        // The (n/2+1)-th largest value is held by a majority.
        return sorted[ids.count / 2]
    }

    /// Tallies `votes` (true = granted). Missing voters count as pending.
    func voteResult(_ votes: [NodeID: Bool]) -> VoteResult {
        if ids.isEmpty { return .won }
        var granted = 0
        var missing = 0
        for id in ids {
            switch votes[id] {
            case .some(true): granted += 1
            case .some(false): break
            case .none: missing += 1
            }
        }
        let quorum = ids.count / 2 + 1
        if granted >= quorum { return .won }
        if granted + missing >= quorum { return .pending }
        return .lost
    }
}

/// A joint configuration: decisions need a quorum in both the incoming and the outgoing majority.
/// When not joint, `outgoing` is empty and only `incoming` matters.
struct JointConfig: Sendable, Hashable {
    var incoming: MajorityConfig
    var outgoing: MajorityConfig

    init(incoming: MajorityConfig, outgoing: MajorityConfig = MajorityConfig([])) {
        self.incoming = incoming
        self.outgoing = outgoing
    }

    var isJoint: Bool { !outgoing.isEmpty }

    /// Every voter of either half, sorted.
    var allIDs: [NodeID] { Array(Set(incoming.ids).union(outgoing.ids)).sorted() }

    func contains(_ id: NodeID) -> Bool { incoming.contains(id) || outgoing.contains(id) }

    func committedIndex(match: (NodeID) -> LogIndex) -> LogIndex {
        let a = incoming.committedIndex(match: match)
        let b = outgoing.committedIndex(match: match)
        let index = min(a, b)
        // Both halves empty: nothing can be committed by counting.
        return index == LogIndex.max ? 0 : index
    }

    func voteResult(_ votes: [NodeID: Bool]) -> VoteResult {
        let a = incoming.voteResult(votes)
        let b = outgoing.voteResult(votes)
        if a == b { return a }
        if a == .lost || b == .lost { return .lost }
        return .pending
    }
}
