import Testing
@testable import AlmanacRaft

/// Raft thesis §9.6 (PreVote), CheckQuorum, and leader forgetting under partial partitions.
@Suite struct PreVoteCheckQuorumTests {
    @Test func section9_6_isolatedNodeDoesNotIncreaseItsTerm() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        let term = net.status(1).term
        net.isolate(3)
        net.tickAll(100)
        #expect(net.status(3).term == term, "pre-votes never raise the term")
        #expect(net.status(3).role == .preCandidate || net.status(3).role == .follower)
        net.heal()
        net.tickAll(5)
        #expect(net.leaders == [1], "the rejoining node must not depose the leader")
        #expect(net.status(1).term == term)
    }

    @Test func section9_6_withoutPreVoteRejoiningNodeDisruptsLeader() {
        // Control experiment: the same scenario without PreVote raises terms and deposes the leader.
        var net = TestNetwork(voters: [1, 2, 3]) { $0.preVote = false; $0.checkQuorum = false }
        net.campaign(1)
        let term = net.status(1).term
        net.isolate(3)
        net.tickAll(100)
        #expect(net.status(3).term > term)
        net.heal()
        net.tickAll(25)
        #expect(net.status(1).term > term)
    }

    @Test func section9_6_preVoteGrantAtFutureTermDoesNotChangeVoterState() {
        var node = freshNode(RaftConfig(id: 1), voters: [1, 2, 3], seed: 9)
        node.step(Message(type: .preVote, from: 2, to: 1, term: 2, logTerm: 1, index: 3))
        let rd = node.ready()
        #expect(rd.hardState == nil, "a pre-vote grant changes neither term nor vote")
        let resp = (rd.messages + rd.messagesAfterPersist).first { $0.type == .preVoteResponse }
        #expect(resp?.reject == false)
        #expect(resp?.term == 2)
        #expect(node.status.term == 1)
    }

    @Test func section9_6_followerWithLeaderLeaseIgnoresPreVote() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        let term = net.status(1).term
        net.nodes[2]!.step(Message(type: .preVote, from: 3, to: 2, term: term + 1,
                                   logTerm: term, index: net.status(3).lastIndex))
        let rd = net.nodes[2]!.ready()
        #expect(!(rd.messages + rd.messagesAfterPersist).contains { $0.type == .preVoteResponse && !$0.reject })
    }

    @Test func checkQuorum_leaderWithoutQuorumContactStepsDown() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.isolate(1)
        // Two CheckQuorum rounds at most (the first may still see old activity).
        for _ in 0..<25 { net.tick(1); _ = net.drain(1) }
        #expect(net.status(1).role == .follower)
        #expect(net.status(1).leader == 0)
    }

    /// A leader that hears nothing back (its inbound cut, or stalled after a partition healed)
    /// keeps its followers' leases fresh until CheckQuorum deposes it; then they would wait out
    /// their own election timeouts. With handOverOnQuorumLoss it sends TimeoutNow to its most
    /// up-to-date voter, which is elected at once (the control run elects nobody meanwhile).
    @Test func checkQuorum_leaderThatStepsDownHandsOverToItsMostUpToDateVoter() {
        for handOver in [true, false] {
            var net = TestNetwork(voters: [1, 2, 3]) { $0.handOverOnQuorumLoss = handOver }
            net.campaign(1)
            let term = net.status(1).term
            net.cut.insert([2, 1])
            net.cut.insert([3, 1])
            var ticks = 0
            while net.status(1).role == .leader && ticks < 40 {
                net.tick(1)
                net.stabilize()
                ticks += 1
            }
            #expect(net.status(1).role == .follower, "CheckQuorum deposes the leader")
            if handOver {
                #expect(net.leaders == [2], "the handover elects the most up-to-date voter (lowest id among equals)")
                #expect(net.status(2).term == term + 1)
            } else {
                #expect(net.leaders.isEmpty, "without it the followers wait for their own timeouts")
            }
        }
    }

    @Test func checkQuorum_leaderWithQuorumStaysLeader() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.isolate(3)
        net.tickAll(60)
        #expect(net.leaders.contains(1))
        #expect(net.status(1).role == .leader)
    }

    @Test func forgetLeader_preCandidatesElectNewLeaderAfterLeaderDies() {
        // Leader isolated; followers time out at different moments. A pre-candidate forgets its
        // leader, so the other follower's pre-vote is granted instead of ignored under a lease.
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.isolate(1)
        net.nodes[2]!.campaign()
        net.stabilize()
        #expect(net.status(2).role == .preCandidate)
        #expect(net.status(2).leader == 0)
        // Node 3 still has the lease; once its own timeout fires it asks node 2, which grants.
        net.nodes[3]!.campaign()
        net.stabilize()
        #expect(net.status(3).role == .leader)
    }

    @Test func forgetLeader_bridgePartitionStaysLive() throws {
        // 1 is leader; the 1-3 link is cut, 2 bridges. 3 cannot win (2 still has a leader), the
        // leader keeps its quorum via 2 and keeps committing. When the link heals, 3 catches up.
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        let term = net.status(1).term
        net.cutLink(1, 3)
        net.tickAll(100)
        #expect(net.leaders == [1])
        #expect(net.status(1).term == term)
        try net.propose(1, [1])
        net.heal()
        net.tickAll(20)
        #expect(net.leaders.count == 1)
        try net.propose(net.leaders[0], [2])
        net.tickAll(3)
        #expect(net.appliedData(3) == [[1], [2]])
    }

    @Test func forgetLeader_leaderlessFollowersGrantPreVoteImmediately() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.isolate(1)
        net.nodes[2]!.forgetLeader()
        #expect(net.status(2).leader == 0)
        // Node 3 campaigns at once; node 2 grants though its lease has not expired.
        net.campaign(3)
        #expect(net.status(3).role == .leader)
    }

    @Test func forgetLeader_isIgnoredWithLeaseBasedReads() {
        var net = TestNetwork(voters: [1, 2, 3]) { $0.readOnlyOption = .leaseBased }
        net.campaign(1)
        net.nodes[2]!.forgetLeader()
        #expect(net.status(2).leader == 1)
    }

    @Test func checkQuorum_staleLeaderLearnsNewTermFromFollowers() {
        var net = TestNetwork(voters: [1, 2, 3]) { $0.checkQuorum = false }
        net.campaign(1)
        net.isolate(1)
        net.campaign(2)
        #expect(net.status(2).role == .leader)
        net.heal()
        net.tickAll(2)
        #expect(net.leaders == [2])
        #expect(net.status(1).term == net.status(2).term)
    }
}
