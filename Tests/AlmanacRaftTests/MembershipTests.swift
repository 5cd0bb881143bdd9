import Testing
@testable import AlmanacRaft

/// Raft §6 (cluster membership changes): joint consensus, learners, one pending change.
@Suite struct MembershipTests {
    /// Adds a fresh node that joins with an empty log.
    static func addFreshNode(_ net: inout TestNetwork, _ id: NodeID) {
        net.setNode(id, initial: RaftInitialState(bootstrap: ConfState()))
    }

    @Test func section6_addLearnerReplicatesWithoutVoting() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        Self.addFreshNode(&net, 4)
        try net.nodes[1]!.proposeConfChange(ConfChange([ConfChangeSingle(.addLearner, 4)]))
        net.tickAll(3)
        #expect(net.status(1).confState.learners == [4])
        try net.propose(1, [1])
        net.tickAll(2)
        #expect(net.appliedData(4) == [[1]])
        // The learner's acks never count: with 2 and 3 cut off, nothing commits.
        net.isolate(2)
        net.isolate(3)
        net.cut.remove([1, 4]); net.cut.remove([4, 1])
        let commit = net.status(1).commit
        try? net.propose(1, [2])
        net.tickAll(3)
        #expect(net.status(1).commit == commit)
        #expect(net.status(4).role == .follower)
    }

    /// Voter 3 and learner 4 are cut off together while 1 and 2 commit more entries; then 3
    /// campaigns. Returns whether 3 became leader, and whether its log lacks committed entries.
    static func staleCandidateWithLearner(faults: Set<SafetyFault>) throws -> (won: Bool, missesCommitted: Bool) {
        var net = TestNetwork(voters: [1, 2, 3], learners: [4]) {
            $0.preVote = false; $0.checkQuorum = false; $0.testingFaults = faults
        }
        net.campaign(1)
        try net.propose(1, [1])
        for a: NodeID in [3, 4] { for b: NodeID in [1, 2] { net.cutLink(a, b) } }
        for i in 2..<5 { try net.propose(1, [UInt8(i)]) }
        net.campaign(3)
        return (net.status(3).role == .leader, net.status(3).lastIndex < net.status(1).commit)
    }

    @Test func section6_learnerVoteIsNotCounted() throws {
        let r = try Self.staleCandidateWithLearner(faults: [])
        #expect(!r.won, "a candidate must not win with a learner's vote")
    }

    @Test func section6_learnerVotesFaultElectsLeaderMissingCommittedEntries() throws {
        let r = try Self.staleCandidateWithLearner(faults: [.learnerVotes])
        #expect(r.won && r.missesCommitted, "the deliberate fault must elect a leader lacking committed entries")
    }

    @Test func section6_jointConsensusReplacesVotersWithAutoLeave() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        Self.addFreshNode(&net, 4)
        Self.addFreshNode(&net, 5)
        let change = ConfChange([ConfChangeSingle(.addVoter, 4), ConfChangeSingle(.addVoter, 5),
                                 ConfChangeSingle(.removeNode, 3)])
        try net.nodes[1]!.proposeConfChange(change)
        net.stabilize()
        net.tickAll(5)
        let cs = net.status(1).confState
        #expect(cs.voters == [1, 2, 4, 5])
        #expect(cs.votersOutgoing.isEmpty, "the leader leaves the joint configuration automatically")
        #expect(!cs.autoLeave)
        // Every replica applied both entries (enter joint, leave joint).
        for id: NodeID in [1, 2, 4, 5] { #expect(net.status(id).confState == cs, "node \(id)") }
        try net.propose(1, [1])
        net.isolate(2)
        net.tickAll(2)
        #expect(net.appliedData(5).last == [1])
    }

    @Test func section6_jointExplicitWaitsForLeave() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        Self.addFreshNode(&net, 4)
        try net.nodes[1]!.proposeConfChange(ConfChange([ConfChangeSingle(.addVoter, 4)], transition: .jointExplicit))
        net.tickAll(3)
        #expect(net.status(1).confState.isJoint)
        #expect(net.status(1).confState.votersOutgoing == [1, 2, 3])
        #expect(throws: RaftError.invalidConfigChange("cannot apply a simple change to a joint configuration")) {
            try net.nodes[1]!.proposeConfChange(ConfChange([ConfChangeSingle(.addVoter, 5)]))
        }
        try net.nodes[1]!.proposeConfChange(.leaveJoint)
        net.tickAll(3)
        #expect(!net.status(1).confState.isJoint)
        #expect(net.status(1).confState.voters == [1, 2, 3, 4])
    }

    @Test func section6_onlyOnePendingConfChange() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.isolate(1) // nothing commits
        try net.nodes[1]!.proposeConfChange(ConfChange([ConfChangeSingle(.addLearner, 4)]))
        #expect(throws: RaftError.configChangePending) {
            try net.nodes[1]!.proposeConfChange(ConfChange([ConfChangeSingle(.addLearner, 5)]))
        }
    }

    @Test func section6_simpleChangeMayAlterOnlyOneVoter() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        #expect(throws: RaftError.invalidConfigChange("removed all voters")) {
            try net.nodes[1]!.proposeConfChange(ConfChange([ConfChangeSingle(.removeNode, 1), ConfChangeSingle(.removeNode, 2),
                                                            ConfChangeSingle(.removeNode, 3)]))
        }
        #expect(throws: RaftError.invalidConfigChange("cannot leave a non-joint configuration")) {
            try net.nodes[1]!.proposeConfChange(.leaveJoint)
        }
    }

    @Test func section6_noCampaignWhileCommittedConfChangeUnapplied() {
        // Node recovers with a committed but unapplied configuration entry.
        let addVoter = ConfChange([ConfChangeSingle(.addVoter, 1)]).encoded()
        let addLearner = ConfChange([ConfChangeSingle(.addLearner, 4)]).encoded()
        var node = RaftNode(config: RaftConfig(id: 1, preVote: false),
                            initialState: RaftInitialState(
                                hardState: HardState(term: 1, vote: 0, commit: 2),
                                entries: [Entry(term: 1, index: 1, type: .configChange, data: addVoter),
                                          Entry(term: 1, index: 2, type: .configChange, data: addLearner)]),
                            random: SplitMix64(seed: 1))
        for _ in 0..<50 { node.tick() }
        #expect(node.status.role == .follower, "must not campaign before applying the committed config")
        let rd = node.ready()
        #expect(rd.committedEntries.count == 2)
        node.advance(rd)
        #expect(node.status.confState.learners == [4])
        for _ in 0..<50 { node.tick() }
        #expect(node.status.role == .leader)
    }

    @Test func section6_removedLeaderHandsOverLeadership() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        try net.nodes[1]!.proposeConfChange(ConfChange([ConfChangeSingle(.removeNode, 1)]))
        net.stabilize()
        net.tickAll(30)
        #expect(net.status(1).role == .follower)
        let leaders = net.leaders.filter { $0 != 1 }
        #expect(leaders.count == 1)
        #expect(net.status(leaders[0]).confState.voters == [2, 3])
        try net.propose(leaders[0], [3])
        net.tickAll(2)
        #expect(net.appliedData(2) == [[3]] && net.appliedData(3) == [[3]])
    }

    @Test func section6_promoteLearnerToVoter() throws {
        var net = TestNetwork(voters: [1, 2, 3], learners: [4])
        net.campaign(1)
        try net.nodes[1]!.proposeConfChange(ConfChange([ConfChangeSingle(.addVoter, 4)]))
        net.tickAll(3)
        #expect(net.status(4).confState.voters == [1, 2, 3, 4])
        #expect(net.status(4).confState.learners.isEmpty)
    }

    @Test func section6_voterLearnsCommitFromVoteResponseOnlyForMatchingEntry() {
        // Entries 1...3 are bootstrap (term 1); append 4 and 5 of term 2, commit stays 3.
        var node = freshNode(RaftConfig(id: 1), voters: [1, 2, 3])
        node.step(Message(type: .append, from: 2, to: 1, term: 2, logTerm: 1, index: 3,
                          entries: [Entry(term: 2, index: 4), Entry(term: 2, index: 5)], commit: 3))
        #expect(node.status.commit == 3)
        // A response claiming index 5 of a different term is ignored.
        node.step(Message(type: .preVoteResponse, from: 3, to: 1, term: 3, logTerm: 9, commit: 5, reject: true))
        #expect(node.status.commit == 3)
        // The same entry (index 5, term 2) committed elsewhere: adopt it.
        node.step(Message(type: .preVoteResponse, from: 3, to: 1, term: 2, logTerm: 2, commit: 5, reject: true))
        #expect(node.status.commit == 5)
    }
}
