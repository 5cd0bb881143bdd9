import Testing
@testable import AlmanacRaft

@Suite struct CodecAndQuorumTests {
    @Test func confChangeCodec_roundTrips() throws {
        let changes: [ConfChange] = [
            .leaveJoint,
            ConfChange([ConfChangeSingle(.addVoter, 1)]),
            ConfChange([ConfChangeSingle(.addLearner, UInt64.max), ConfChangeSingle(.removeNode, 7)],
                       transition: .jointExplicit),
        ]
        for c in changes { #expect(try ConfChange(decoding: c.encoded()) == c) }
        // Deterministic bytes.
        #expect(ConfChange([ConfChangeSingle(.addVoter, 258)]).encoded() == [0xCC, 1, 0, 1, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0])
    }

    @Test func confChangeCodec_rejectsMalformedInput() {
        #expect(throws: ConfChangeDecodingError.self) { try ConfChange(decoding: []) }
        #expect(throws: ConfChangeDecodingError.self) { try ConfChange(decoding: [0xCC, 1, 9, 0, 0, 0, 0]) }
        #expect(throws: ConfChangeDecodingError.self) { try ConfChange(decoding: [0xCC, 1, 0, 5, 0, 0, 0]) }
        #expect(throws: ConfChangeDecodingError.self) { try ConfChange(decoding: ConfChange.leaveJoint.encoded() + [0]) }
        #expect(throws: ConfChangeDecodingError.self) { try ConfChange(decoding: [0xCC, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]) }
    }

    @Test func quorum_majorityCommittedIndex() {
        let c = MajorityConfig([1, 2, 3, 4, 5])
        let match: [NodeID: LogIndex] = [1: 10, 2: 8, 3: 7, 4: 2, 5: 1]
        #expect(c.committedIndex { match[$0] ?? 0 } == 7)
        #expect(MajorityConfig([1, 2]).committedIndex { match[$0] ?? 0 } == 8)
    }

    @Test func quorum_jointNeedsBothMajorities() {
        let joint = JointConfig(incoming: MajorityConfig([1, 2, 3]), outgoing: MajorityConfig([3, 4, 5]))
        let match: [NodeID: LogIndex] = [1: 9, 2: 9, 3: 4, 4: 3, 5: 1]
        #expect(joint.committedIndex { match[$0] ?? 0 } == 3)
        #expect(joint.voteResult([1: true, 2: true]) == .pending)
        #expect(joint.voteResult([1: true, 2: true, 4: true, 5: true]) == .won)
        #expect(joint.voteResult([1: true, 2: true, 4: false, 5: false]) == .lost)
    }

    @Test func inflights_limitByCountAndBytes() {
        var f = Inflights(maxCount: 3, maxBytes: 100)
        f.add(lastIndex: 1, bytes: 10)
        f.add(lastIndex: 2, bytes: 10)
        #expect(!f.isFull)
        f.add(lastIndex: 3, bytes: 10)
        #expect(f.isFull) // count
        f.freeLE(2)
        #expect(f.count == 1 && f.bytes == 10)
        f.add(lastIndex: 4, bytes: 95)
        #expect(f.isFull) // bytes
        f.freeFirstOne()
        #expect(f.count == 1 && f.bytes == 95)
    }

    @Test func invariants_recordInsteadOfStoppingWhenFaultsAreOn() {
        var checker = InvariantChecker(node: 4, recordOnly: true)
        checker.observe(term: 2, vote: 1, commit: 7, applied: 0, lastIndex: 9, firstIndex: 1, role: .follower, lastLogTerm: 2)
        checker.observe(term: 2, vote: 1, commit: 5, applied: 0, lastIndex: 9, firstIndex: 1, role: .follower, lastLogTerm: 2)
        #expect(checker.violations == ["raft invariant violated: commit index decreased from 7 to 5 on node 4"])
        checker.observe(term: 2, vote: 3, commit: 7, applied: 0, lastIndex: 9, firstIndex: 1, role: .follower, lastLogTerm: 2)
        #expect(checker.violations.last == "raft invariant violated: vote changed from 1 to 3 within term 2 on node 4")
    }
}
