import Testing
@testable import AlmanacRaft

/// Leadership transfer (Raft thesis §3.10).
@Suite struct TransferTests {
    @Test func transfer_toCaughtUpVoterElectsIt() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        let term = net.status(1).term
        try? net.nodes[1]!.transferLeadership(to: 2)
        net.stabilize()
        #expect(net.leaders == [2])
        #expect(net.status(2).term == term + 1)
        #expect(net.delivered.contains { $0.type == .timeoutNow && $0.to == 2 })
    }

    @Test func transfer_bypassesPreVoteAndLeaderLease() {
        // Followers have a fresh lease from leader 1; an ordinary election by 2 would be ignored.
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        try? net.nodes[1]!.transferLeadership(to: 3)
        net.stabilize()
        #expect(net.leaders == [3])
        #expect(!net.delivered.contains { $0.type == .preVote && $0.from == 3 })
        let votes = net.delivered.filter { $0.type == .vote && $0.from == 3 }
        #expect(!votes.isEmpty && votes.allSatisfy { $0.context == RaftNode.transferContext })
    }

    @Test func transfer_waitsUntilTargetCaughtUpAndRefusesProposals() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.isolate(3)
        try net.propose(1, [1])
        try net.nodes[1]!.transferLeadership(to: 3)
        #expect(net.status(1).transferee == 3)
        #expect(throws: RaftError.transferInProgress(to: 3)) { try net.nodes[1]!.propose([2]) }
        net.stabilize()
        #expect(net.leaders == [1])
        net.heal()
        net.tickAll(2) // heartbeat response -> catch up -> timeoutNow
        #expect(net.leaders == [3])
        #expect(net.appliedData(3) == [[1]])
    }

    @Test func transfer_isAbandonedAfterElectionTimeout() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.cutLink(1, 3)
        try net.nodes[1]!.transferLeadership(to: 3)
        #expect(net.status(1).transferee == 3)
        net.tickAll(10) // electionTick
        #expect(net.status(1).transferee == 0)
        #expect(net.status(1).role == .leader)
        try net.nodes[1]!.propose([3])
    }

    @Test func transfer_toLearnerOrUnknownNodeIsRefused() {
        var net = TestNetwork(voters: [1, 2, 3], learners: [4])
        net.campaign(1)
        #expect(throws: RaftError.unknownNode(4)) { try net.nodes[1]!.transferLeadership(to: 4) }
        #expect(throws: RaftError.unknownNode(9)) { try net.nodes[1]!.transferLeadership(to: 9) }
        #expect(throws: RaftError.notLeader(leader: 1)) { try net.nodes[2]!.transferLeadership(to: 3) }
    }
}
