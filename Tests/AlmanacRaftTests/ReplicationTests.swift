import Testing
@testable import AlmanacRaft

/// Raft §5.3 (log replication), §5.4.2 (commitment), flow control and the uncommitted bound.
@Suite struct ReplicationTests {
    @Test func section5_3_proposalReplicatesAndCommitsOnEveryReplica() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        for i in 0..<20 { try net.propose(1, .bytes("op\(i)")) }
        net.tickAll(2) // heartbeats carry the final commit index to followers
        let expected = (0..<20).map { [UInt8].bytes("op\($0)") }
        for id: NodeID in [1, 2, 3] {
            #expect(net.appliedData(id) == expected, "node \(id)")
            #expect(net.status(id).commit == 24) // 3 bootstrap entries, no-op, 20 proposals
        }
    }

    /// With `broadcastCommit` off the leader sends no empty append when only its commit index
    /// moves; followers learn the commit on the next append or heartbeat instead.
    @Test func commitWithoutBroadcastTravelsOnTheNextHeartbeat() throws {
        for broadcast in [true, false] {
            var net = TestNetwork(voters: [1, 2, 3]) { $0.broadcastCommit = broadcast }
            net.campaign(1)
            net.delivered = []
            try net.propose(1, .bytes("x"))
            net.stabilize()
            let leaderCommit = net.status(1).commit
            let emptyAppends = net.delivered.filter { $0.type == .append && $0.entries.isEmpty && $0.from == 1 }
            if broadcast {
                #expect(!emptyAppends.isEmpty, "the new commit index is broadcast at once")
                #expect(net.status(2).commit == leaderCommit)
            } else {
                #expect(emptyAppends.isEmpty, "no empty append for a commit-only change")
                #expect(net.status(2).commit < leaderCommit)
                net.tickAll(2)
                #expect(net.status(2).commit == leaderCommit && net.status(3).commit == leaderCommit)
                #expect(net.appliedData(2).last == .bytes("x"))
            }
        }
    }

    @Test func section5_3_followerRejectsProposals() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        #expect(throws: RaftError.notLeader(leader: 1)) { try net.nodes[2]!.propose([1]) }
    }

    @Test func section5_4_2_newLeaderAppendsNoopOfItsTerm() {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        let term = net.status(1).term
        let first = net.storage[2]!.applied.first { $0.type == .normal }
        #expect(first?.term == term)
        #expect(first?.data == [])
    }

    /// Builds the Figure 8 situation: leader 1 of term 4 holds an entry of term 2 at index 2 that
    /// is not committed. Returns the network after node 1 won the election (responses not delivered).
    static func figure8(faults: Set<SafetyFault> = []) -> TestNetwork {
        var net = TestNetwork(voters: [1, 2, 3]) { $0.testingFaults = faults }
        let base = RaftInitialState(hardState: HardState(term: 3, vote: 0, commit: 1),
                                    entries: [Entry(term: 1, index: 1)], bootstrap: net.bootstrap)
        var n1 = base
        n1.entries.append(Entry(term: 2, index: 2, data: [42]))
        net.setNode(1, initial: n1) { $0.testingFaults = faults }
        net.setNode(2, initial: base) { $0.testingFaults = faults }
        net.setNode(3, initial: base) { $0.testingFaults = faults }
        net.nodes[1]!.campaign()
        // Deliver only the election traffic.
        net.dropTypes = [.append, .heartbeat]
        net.stabilize()
        net.dropTypes = []
        return net
    }

    @Test func section5_4_2_figure8PreviousTermEntryIsNotCommittedByCounting() {
        var net = Self.figure8()
        #expect(net.status(1).role == .leader)
        #expect(net.status(1).term == 4)
        // Node 2 acknowledges index 2 (the term-2 entry) but not yet the no-op at index 3.
        net.nodes[1]!.step(Message(type: .appendResponse, from: 2, to: 1, term: 4, index: 2))
        _ = net.drain(1)
        #expect(net.status(1).commit == 1, "an entry of a previous term must not be committed by counting")
        // Once the current-term no-op is on a majority, both commit together.
        net.nodes[1]!.step(Message(type: .appendResponse, from: 2, to: 1, term: 4, index: 3))
        _ = net.drain(1)
        #expect(net.status(1).commit == 3)
    }

    @Test func section5_4_2_faultSwitchCommitsPreviousTermByCounting() {
        var net = Self.figure8(faults: [.commitPreviousTermByCounting])
        net.nodes[1]!.step(Message(type: .appendResponse, from: 2, to: 1, term: 4, index: 2))
        _ = net.drain(1)
        #expect(net.status(1).commit == 2, "the deliberate fault must commit the term-2 entry")
    }

    @Test func section5_3_conflictingFollowerSuffixIsTruncated() throws {
        // Follower 3 holds a divergent suffix of term 2 that was never committed.
        var net = TestNetwork(voters: [1, 2, 3])
        let common = [Entry(term: 1, index: 1)]
        let hs = HardState(term: 2, vote: 0, commit: 1)
        net.setNode(1, initial: RaftInitialState(hardState: hs, entries: common, bootstrap: net.bootstrap))
        net.setNode(2, initial: RaftInitialState(hardState: hs, entries: common, bootstrap: net.bootstrap))
        net.setNode(3, initial: RaftInitialState(hardState: hs, entries: common + (2...6).map {
            Entry(term: 2, index: $0, data: [9])
        }, bootstrap: net.bootstrap))
        net.isolate(3)
        net.campaign(1)
        try net.propose(1, [7])
        net.heal()
        net.tickAll(3)
        let s1 = net.storage[1]!.entries.map { [$0.index, $0.term] }
        let s3 = net.storage[3]!.entries.map { [$0.index, $0.term] }
        #expect(s1 == s3, "log matching: follower log must equal the leader's")
        #expect(net.appliedData(3) == [[7]])
    }

    @Test func section5_3_fastBacktrackingSkipsConflictingTermsInFewRounds() throws {
        // Follower 3 has 50 divergent entries of term 2; the leader has 50 entries of term 3.
        var net = TestNetwork(voters: [1, 2, 3])
        let common = [Entry(term: 1, index: 1)]
        let hs = HardState(term: 3, vote: 0, commit: 1)
        let leaderLog = common + (2...51).map { Entry(term: 3, index: $0, data: [1]) }
        let staleLog = common + (2...51).map { Entry(term: 2, index: $0, data: [2]) }
        net.setNode(1, initial: RaftInitialState(hardState: hs, entries: leaderLog, bootstrap: net.bootstrap))
        net.setNode(2, initial: RaftInitialState(hardState: hs, entries: leaderLog, bootstrap: net.bootstrap))
        net.setNode(3, initial: RaftInitialState(hardState: hs, entries: staleLog, bootstrap: net.bootstrap))
        net.campaign(1)
        net.tickAll(2)
        let rejections = net.delivered.filter { $0.type == .appendResponse && $0.from == 3 && $0.reject }
        #expect(rejections.count <= 2, "fast backtracking should need at most 2 rejections, got \(rejections.count)")
        #expect(net.storage[3]!.entries.map(\.term) == net.storage[1]!.entries.map(\.term))
    }

    @Test func flowControl_inflightMessageCountLimitsPipelining() throws {
        var net = TestNetwork(voters: [1, 2]) { $0.maxInflightMsgs = 3; $0.maxSizePerMsg = 1 }
        net.campaign(1)
        #expect(net.status(1).progress[2]?.state == .replicate)
        // Hold every append to node 2: the leader may have at most 3 in flight.
        net.cut.insert([1, 2])
        for i in 0..<10 {
            try net.nodes[1]!.propose([UInt8(i)])
            _ = net.drain(1)
        }
        let pr = net.status(1).progress[2]!
        #expect(pr.inflightMessages == 3)
        #expect(pr.next == pr.match + 4)
    }

    @Test func flowControl_inflightBytesLimitPipelining() throws {
        var net = TestNetwork(voters: [1, 2]) {
            $0.maxInflightMsgs = 100; $0.maxSizePerMsg = 100; $0.maxInflightBytes = 250
        }
        net.campaign(1)
        net.cut.insert([1, 2])
        var sentBytes = 0
        for _ in 0..<10 {
            try net.nodes[1]!.propose([UInt8](repeating: 7, count: 100))
            sentBytes += net.drain(1).filter { $0.type == .append }.flatMap(\.entries).reduce(0) { $0 + $1.payloadSize }
        }
        let pr = net.status(1).progress[2]!
        // 100-byte messages: the third reaches 300 >= 250, then the flow stops.
        #expect(pr.inflightBytes == 300)
        #expect(sentBytes == 300)
        #expect(pr.inflightMessages == 3)
    }

    @Test func flowControl_maxSizePerMsgSplitsAppends() throws {
        var net = TestNetwork(voters: [1, 2]) { $0.maxSizePerMsg = 10 }
        net.campaign(1)
        net.cut.insert([1, 2])
        for _ in 0..<6 { try net.nodes[1]!.propose([UInt8](repeating: 1, count: 5)) }
        let appends = net.drain(1).filter { $0.type == .append && $0.to == 2 }
        #expect(appends.count == 3)
        for m in appends { #expect(m.entries.reduce(0) { $0 + $1.payloadSize } <= 10) }
    }

    @Test func uncommittedBound_refusesProposalsPastLimit() throws {
        var net = TestNetwork(voters: [1, 2, 3]) { $0.maxUncommittedEntriesSize = 100 }
        net.campaign(1)
        net.isolate(1) // nothing commits any more
        try net.nodes[1]!.propose([UInt8](repeating: 0, count: 60))
        #expect(throws: RaftError.uncommittedSizeExceeded(limit: 100)) {
            try net.nodes[1]!.propose([UInt8](repeating: 0, count: 60))
        }
        try net.nodes[1]!.propose([UInt8](repeating: 0, count: 40)) // exactly at the limit
        // Once the entries commit, the budget is free again.
        net.heal()
        net.stabilize()
        net.tickAll(2)
        try net.nodes[1]!.propose([UInt8](repeating: 0, count: 90))
    }

    @Test func maxEntrySize_refusesLargeEntry() {
        var net = TestNetwork(voters: [1]) { $0.maxEntrySize = 8 }
        net.campaign(1)
        #expect(throws: RaftError.entryTooLarge(size: 9, limit: 8)) { try net.nodes[1]!.propose([UInt8](repeating: 0, count: 9)) }
    }

    @Test func persistBeforeSend_leaderCountsItsOwnEntryOnlyAfterAdvance() throws {
        var net = TestNetwork(voters: [1])
        net.campaign(1)
        let index = try net.nodes[1]!.propose([5])
        let rd = net.nodes[1]!.ready()
        #expect(rd.entries.map(\.index) == [index])
        #expect(net.status(1).commit == index - 1, "not committed before the leader's persist is acknowledged")
        net.nodes[1]!.advance(rd)
        #expect(net.status(1).commit == index)
    }

    @Test func persistBeforeSend_followerAcksAndVotesOnlyAfterPersist() {
        var node = freshNode(RaftConfig(id: 2, preVote: false), voters: [1, 2, 3], seed: 3)
        node.step(Message(type: .vote, from: 1, to: 2, term: 2, logTerm: 1, index: 3))
        var rd = node.ready()
        #expect(rd.messages.isEmpty)
        #expect(rd.messagesAfterPersist.map(\.type) == [.voteResponse])
        #expect(rd.hardState?.vote == 1 && rd.mustSync)
        node.advance(rd)
        node.step(Message(type: .append, from: 1, to: 2, term: 2, logTerm: 1, index: 3,
                          entries: [Entry(term: 2, index: 4)], commit: 3))
        rd = node.ready()
        #expect(rd.entries.count == 1)
        #expect(rd.messages.isEmpty)
        #expect(rd.messagesAfterPersist.map(\.type) == [.appendResponse])
    }

    @Test func persistBeforeSend_faultSwitchSendsVoteBeforePersist() {
        var node = freshNode(RaftConfig(id: 2, preVote: false, testingFaults: [.skipPersistBeforeVote]),
                             voters: [1, 2, 3], seed: 3)
        node.step(Message(type: .vote, from: 1, to: 2, term: 2, logTerm: 1, index: 3))
        let rd = node.ready()
        #expect(rd.messages.map(\.type) == [.voteResponse])
    }

    @Test func restart_recoversTermVoteAndLogAndReappliesCommittedEntries() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        try net.propose(1, [1])
        try net.propose(1, [2])
        net.tickAll(2)
        let before = net.status(2)
        net.restart(2)
        #expect(net.status(2).term == before.term)
        #expect(net.status(2).commit == before.commit)
        #expect(net.status(2).vote == before.vote)
        net.stabilize()
        #expect(net.appliedData(2) == [[1], [2]])
        try net.propose(1, [3])
        net.tickAll(2)
        #expect(net.appliedData(2) == [[1], [2], [3]])
    }
}
