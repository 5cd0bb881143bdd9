import Testing
@testable import AlmanacRaft

/// Raft §5.1 (terms), §5.2 (leader election), §5.4.1 (election restriction).
@Suite struct ElectionTests {
    @Test func section5_2_singleVoterElectsItselfAndCommitsNoop() {
        var net = TestNetwork(voters: [1])
        net.campaign(1)
        #expect(net.status(1).role == .leader)
        #expect(net.status(1).term == 2) // bootstrap entries are of term 1
        // Bootstrap config entry, then the no-op of term 2, committed once the leader's own persist
        // is acknowledged.
        #expect(net.status(1).commit == 2)
        #expect(net.storage[1]!.applied.map(\.term) == [1, 2])
    }

    @Test func section5_2_electionTimeoutStartsElectionAndMajorityElects() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.tickAll(25) // > 2 * electionTick: someone must time out
        let leaders = net.leaders
        #expect(leaders.count == 1)
        let term = net.status(leaders[0]).term
        for id: NodeID in [1, 2, 3] {
            #expect(net.status(id).term == term)
            #expect(net.status(id).leader == leaders[0])
        }
    }

    @Test func section5_2_randomizedElectionTimeoutIsInRange() {
        for seed in 0..<200 as Range<UInt64> {
            var node = freshNode(RaftConfig(id: 1, electionTick: 10, preVote: false), voters: [1, 2, 3], seed: seed)
            var ticks = 0
            while node.status.role == .follower {
                node.tick()
                ticks += 1
                if ticks > 100 { break }
            }
            #expect(ticks >= 10 && ticks < 20, "seed \(seed): campaigned after \(ticks) ticks")
        }
    }

    @Test func section5_2_electionSafetyOneVotePerTerm() {
        var node = freshNode(RaftConfig(id: 1, preVote: false, checkQuorum: false), voters: [1, 2, 3])
        node.step(Message(type: .vote, from: 2, to: 1, term: 5, logTerm: 1, index: 3))
        node.step(Message(type: .vote, from: 3, to: 1, term: 5, logTerm: 1, index: 3))
        let rd = node.ready()
        let responses = rd.messagesAfterPersist.filter { $0.type == .voteResponse }
        #expect(responses.count == 2)
        #expect(responses.first { $0.to == 2 }?.reject == false)
        #expect(responses.first { $0.to == 3 }?.reject == true)
        #expect(rd.hardState?.vote == 2)
        #expect(rd.hardState?.term == 5)
        // A repeated request from the same candidate is granted again (idempotent).
        node.advance(rd)
        node.step(Message(type: .vote, from: 2, to: 1, term: 5, logTerm: 1, index: 3))
        #expect(node.ready().messagesAfterPersist.first?.reject == false)
    }

    @Test func section5_1_higherTermConvertsLeaderToFollower() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        #expect(net.status(1).role == .leader)
        let term = net.status(1).term
        net.nodes[1]!.step(Message(type: .appendResponse, from: 2, to: 1, term: term + 3))
        #expect(net.status(1).role == .follower)
        #expect(net.status(1).term == term + 3)
        #expect(net.status(1).leader == 0)
    }

    @Test func section5_1_staleTermRequestIsRejectedAndSenderLearnsTerm() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        let term = net.status(1).term
        // A stale leader's append at a lower term is answered with our term so it steps down.
        net.nodes[2]!.step(Message(type: .append, from: 3, to: 2, term: term - 1, logTerm: 0, index: 0))
        let rd = net.nodes[2]!.ready()
        let resp = (rd.messages + rd.messagesAfterPersist).filter { $0.to == 3 }
        #expect(resp.count == 1)
        #expect(resp.first?.term == term)
        #expect(net.status(2).leader == 1)
    }

    @Test func section5_2_candidateRevertsToFollowerOnLeaderAppend() {
        var net = TestNetwork(voters: [1, 2, 3]) { $0.preVote = false }
        net.campaign(1)
        // Node 3 is a candidate at the same term as a newly heard leader of a higher term.
        net.isolate(3)
        net.nodes[3]!.campaign()
        _ = net.drain(3)
        #expect(net.status(3).role == .candidate)
        let candidateTerm = net.status(3).term
        net.heal()
        net.nodes[3]!.step(Message(type: .append, from: 1, to: 3, term: candidateTerm, logTerm: 0, index: 0))
        #expect(net.status(3).role == .follower)
        #expect(net.status(3).leader == 1)
    }

    @Test func section5_2_splitVoteCandidateLosesAndRetries() {
        var net = TestNetwork(voters: [1, 2, 3]) { $0.preVote = false; $0.checkQuorum = false }
        // 2 and 3 vote for themselves in the same term; 1 is cut from both.
        net.isolate(1)
        net.nodes[2]!.campaign()
        net.nodes[3]!.campaign()
        net.stabilize()
        #expect(net.leaders.isEmpty)
        net.heal()
        net.tickAll(40)
        #expect(net.leaders.count == 1)
    }

    @Test func section5_4_1_electionRestrictionRejectsCandidateWithStaleLog() {
        // Node 1's log ends at (index 2, term 2); candidate 2's log ends at (index 3, term 1).
        var net = TestNetwork(voters: [1, 2, 3]) { $0.preVote = false }
        net.setNode(1, initial: RaftInitialState(hardState: HardState(term: 2, vote: 0, commit: 1),
                                                 entries: [Entry(term: 1, index: 1), Entry(term: 2, index: 2)],
                                                 bootstrap: net.bootstrap)) { $0.preVote = false }
        net.setNode(2, initial: RaftInitialState(hardState: HardState(term: 2, vote: 0, commit: 1),
                                                 entries: [Entry(term: 1, index: 1), Entry(term: 1, index: 2),
                                                           Entry(term: 1, index: 3)],
                                                 bootstrap: net.bootstrap)) { $0.preVote = false }
        net.isolate(3)
        net.campaign(2)
        #expect(net.status(2).role != .leader)
        let rejected = net.delivered.contains { $0.type == .voteResponse && $0.from == 1 && $0.reject }
        #expect(rejected)
        // The reverse is granted: node 1's log is more up to date.
        net.campaign(1)
        #expect(net.status(1).role == .leader)
    }

    @Test func section5_2_learnerNeverCampaigns() {
        var net = TestNetwork(voters: [1, 2, 3], learners: [4])
        for _ in 0..<100 { net.nodes[4]!.tick() }
        #expect(!net.drain(4).contains { $0.type == .preVote || $0.type == .vote })
        #expect(net.status(4).role == .follower)
        #expect(net.status(4).term == 1)
    }
}
