/// The membership configuration as the tracker uses it (sets kept as sorted arrays for determinism).
struct TrackerConfig: Sendable, Hashable {
    var voters: JointConfig
    var learners: [NodeID]
    /// Outgoing voters that become learners when the joint configuration is left.
    var learnersNext: [NodeID]
    var autoLeave: Bool

    init(voters: JointConfig = JointConfig(incoming: MajorityConfig([])), learners: [NodeID] = [],
         learnersNext: [NodeID] = [], autoLeave: Bool = false) {
        self.voters = voters
        self.learners = learners.sorted()
        self.learnersNext = learnersNext.sorted()
        self.autoLeave = autoLeave
    }

    init(_ cs: ConfState) {
        self.init(voters: JointConfig(incoming: MajorityConfig(cs.voters), outgoing: MajorityConfig(cs.votersOutgoing)),
                  learners: Array(Set(cs.learners)), learnersNext: Array(Set(cs.learnersNext)),
                  autoLeave: cs.autoLeave && !cs.votersOutgoing.isEmpty)
    }

    var confState: ConfState {
        ConfState(voters: voters.incoming.ids, learners: learners, votersOutgoing: voters.outgoing.ids,
                  learnersNext: learnersNext, autoLeave: autoLeave)
    }

    /// Every member: voters of both halves, learners and next learners, sorted.
    var allMembers: [NodeID] {
        Array(Set(voters.incoming.ids).union(voters.outgoing.ids).union(learners).union(learnersNext)).sorted()
    }
}

/// Per-peer progress plus the configuration and the votes of the current election.
struct ProgressTracker: Sendable {
    var config: TrackerConfig
    var progress: [NodeID: Progress]
    var votes: [NodeID: Bool] = [:]
    let maxInflight: Int
    let maxInflightBytes: Int
    /// Deliberate fault ``SafetyFault/learnerVotes``: learners' vote grants count in elections.
    let learnersCountAsVoters: Bool

    init(config: TrackerConfig, maxInflight: Int, maxInflightBytes: Int, learnersCountAsVoters: Bool,
         lastIndex: LogIndex) {
        self.config = config
        self.progress = [:]
        self.maxInflight = maxInflight
        self.maxInflightBytes = maxInflightBytes
        self.learnersCountAsVoters = learnersCountAsVoters
        for id in config.allMembers {
            progress[id] = newProgress(isLearner: !config.voters.contains(id), lastIndex: lastIndex)
        }
    }

    func newProgress(isLearner: Bool, lastIndex: LogIndex) -> Progress {
        Progress(match: 0, next: lastIndex + 1, maxInflight: maxInflight, maxInflightBytes: maxInflightBytes,
                 isLearner: isLearner, recentActive: true)
    }

    /// Every tracked peer, sorted (deterministic iteration).
    var ids: [NodeID] { progress.keys.sorted() }

    /// The configuration whose quorums decide elections and commitment: the voters only.
    var quorum: JointConfig { config.voters }

    func isVoter(_ id: NodeID) -> Bool { config.voters.contains(id) }

    /// The largest index replicated on a quorum, per the peers' `match`.
    func committedIndex() -> LogIndex {
        quorum.committedIndex { progress[$0]?.match ?? 0 }
    }

    mutating func resetVotes() { votes = [:] }

    mutating func recordVote(_ id: NodeID, granted: Bool) {
        if votes[id] == nil { votes[id] = granted }
    }

    func tallyVotes() -> (granted: Int, rejected: Int, result: VoteResult) {
        var granted = 0
        var rejected = 0
        for id in quorum.allIDs {
            if let v = votes[id] { if v { granted += 1 } else { rejected += 1 } }
        }
        guard learnersCountAsVoters else { return (granted, rejected, quorum.voteResult(votes)) }
        // Deliberate fault: a learner's grant counts towards the voters' majority (of each half).
        let learnerGrants = (config.learners + config.learnersNext).filter { votes[$0] == true }.count
        func half(_ c: MajorityConfig) -> VoteResult {
            if c.isEmpty { return .won }
            var yes = learnerGrants, missing = 0
            for id in c.ids {
                switch votes[id] { case .some(true): yes += 1; case .some(false): break; case .none: missing += 1 }
            }
            let q = c.count / 2 + 1
            return yes >= q ? .won : (yes + missing >= q ? .pending : .lost)
        }
        let a = half(quorum.incoming), b = half(quorum.outgoing)
        let result: VoteResult = a == b ? a : (a == .lost || b == .lost ? .lost : .pending)
        return (granted, rejected, result)
    }

    /// Whether a quorum was recently active (`self` always counts).
    func quorumActive(selfID: NodeID) -> Bool {
        var active: [NodeID: Bool] = [:]
        for (id, pr) in progress where id == selfID || pr.recentActive { active[id] = true }
        return quorum.voteResult(active) == .won
    }
}
