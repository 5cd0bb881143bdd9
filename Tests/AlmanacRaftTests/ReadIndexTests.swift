import Testing
@testable import AlmanacRaft

/// Linearizable reads by ReadIndex (Raft thesis §6.4).
@Suite struct ReadIndexTests {
    @Test func readIndex_safeModeServesAfterHeartbeatQuorum() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        try net.propose(1, [1])
        let commit = net.status(1).commit
        try net.nodes[1]!.readIndex(context: [7])
        // Before any heartbeat acknowledgement nothing is ready.
        let heartbeats = net.drain(1)
        #expect(heartbeats.filter { $0.type == .heartbeat && $0.context == [7] }.count == 2)
        #expect(net.readStates[1, default: []].isEmpty)
        net.deliver(heartbeats)
        net.stabilize()
        #expect(net.readStates[1] == [ReadState(index: commit, context: [7])])
    }

    @Test func readIndex_notServedWithoutQuorumAcks() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.isolate(1)
        try net.nodes[1]!.readIndex(context: [1])
        net.stabilize()
        #expect(net.readStates[1, default: []].isEmpty)
    }

    @Test func readIndex_queuedUntilLeaderCommitsEntryOfItsTerm() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.nodes[1]!.campaign()
        // Elect node 1 without letting its no-op replicate.
        net.dropTypes = [.append]
        net.stabilize()
        #expect(net.status(1).role == .leader)
        try net.nodes[1]!.readIndex(context: [5])
        net.stabilize()
        #expect(net.readStates[1, default: []].isEmpty, "no read before the leader's no-op commits")
        net.dropTypes = []
        net.tickAll(2)
        let states = net.readStates[1, default: []]
        #expect(states.count == 1)
        #expect(states.first?.index == net.status(1).commit)
    }

    @Test func readIndex_followerForwardsToLeader() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        try net.propose(1, [1])
        try net.nodes[2]!.readIndex(context: [9, 9])
        net.stabilize()
        #expect(net.readStates[2] == [ReadState(index: net.status(1).commit, context: [9, 9])])
        #expect(net.delivered.contains { $0.type == .readIndex && $0.from == 2 })
    }

    @Test func readIndex_followerWithoutLeaderThrows() {
        var net = TestNetwork(voters: [1, 2, 3])
        #expect(throws: RaftError.notLeader(leader: 0)) { try net.nodes[2]!.readIndex(context: [1]) }
    }

    @Test func readIndex_leaseBasedServesWithoutHeartbeatRound() throws {
        var net = TestNetwork(voters: [1, 2, 3]) { $0.readOnlyOption = .leaseBased }
        net.campaign(1)
        net.isolate(1)
        try net.nodes[1]!.readIndex(context: [3])
        _ = net.drain(1)
        #expect(net.readStates[1]?.count == 1)
    }

    @Test func readIndex_leaseBasedRequiresCheckQuorum() {
        let bad = RaftConfig(id: 1, checkQuorum: false, readOnlyOption: .leaseBased)
        #expect(throws: RaftConfigError.self) { try bad.validate() }
        #expect(bad.normalized().readOnlyOption == .safe)
        // A node built from it falls back to safe reads: an isolated leader serves nothing.
        var net = TestNetwork(voters: [1, 2, 3]) { $0.readOnlyOption = .leaseBased; $0.checkQuorum = false }
        net.campaign(1)
        net.isolate(1)
        try? net.nodes[1]!.readIndex(context: [3])
        net.stabilize()
        #expect(net.readStates[1, default: []].isEmpty)
    }

    @Test func readIndex_singleVoterServesImmediately() throws {
        var net = TestNetwork(voters: [1])
        net.campaign(1)
        try net.nodes[1]!.readIndex(context: [1])
        net.stabilize()
        #expect(net.readStates[1]?.first?.index == net.status(1).commit)
    }

    @Test func configValidation_rejectsBadTicks() {
        #expect(throws: RaftConfigError.self) { try RaftConfig(id: 1, electionTick: 1, heartbeatTick: 1).validate() }
        #expect(throws: RaftConfigError.self) { try RaftConfig(id: 0).validate() }
        #expect((try? RaftConfig(id: 1).validate()) != nil)
    }
}
