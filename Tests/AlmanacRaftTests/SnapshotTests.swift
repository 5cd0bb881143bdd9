import Testing
@testable import AlmanacRaft

/// Log compaction and InstallSnapshot (Raft §7).
@Suite struct SnapshotTests {
    static func snapshot(of net: TestNetwork, _ id: NodeID) -> Snapshot {
        let st = net.status(id)
        let applied = net.storage[id]!.applied
        let term = applied.last { $0.index == st.applied }?.term ?? 0
        return Snapshot(metadata: SnapshotMetadata(index: st.applied, term: term, confState: st.confState),
                        data: applied.filter { $0.type == .normal }.flatMap(\.data))
    }

    /// Node 1 leads; node 3, cut off, misses `entries` proposals; node 1 compacts past them. Node 3
    /// is still cut off (the caller heals the network).
    static func node3BehindTheLeadersSnapshot(entries: Int) throws -> TestNetwork {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        net.isolate(3)
        for i in 0..<entries { try net.propose(1, [UInt8(i)]) }
        try net.nodes[1]!.compact(snapshot: Self.snapshot(of: net, 1))
        return net
    }

    @Test func snapshot_compactDiscardsEntriesAndValidates() throws {
        var net = TestNetwork(voters: [1])
        net.campaign(1)
        for i in 0..<5 { try net.propose(1, [UInt8(i)]) }
        let snap = Self.snapshot(of: net, 1)
        try net.nodes[1]!.compact(snapshot: snap)
        #expect(net.status(1).firstIndex == snap.metadata.index + 1)
        #expect(throws: RaftError.snapshotOutOfDate) { try net.nodes[1]!.compact(snapshot: snap) }
        var ahead = snap
        ahead.metadata.index += 10
        #expect(throws: RaftError.snapshotOutOfDate) { try net.nodes[1]!.compact(snapshot: ahead) }
    }

    @Test func snapshot_laggingFollowerReceivesInstallSnapshot() throws {
        var net = try Self.node3BehindTheLeadersSnapshot(entries: 10)
        net.heal()
        net.tickAll(3)
        #expect(net.delivered.contains { $0.type == .installSnapshot && $0.to == 3 })
        #expect(net.storage[3]!.snapshot?.metadata.index == net.status(1).firstIndex - 1)
        #expect(net.status(3).commit == net.status(1).commit)
        try net.propose(1, [99])
        net.tickAll(2)
        #expect(net.appliedData(3).last == [99])
        #expect(net.status(1).progress[3]?.state == .replicate)
    }

    @Test func snapshot_installDiscardsConflictingSuffix() throws {
        // Node 3 holds an uncommitted divergent suffix; the leader compacted past it.
        var net = TestNetwork(voters: [1, 2, 3])
        let common = [Entry(term: 1, index: 1)]
        let hs = HardState(term: 2, vote: 0, commit: 1)
        net.setNode(1, initial: RaftInitialState(hardState: hs, entries: common, bootstrap: net.bootstrap))
        net.setNode(2, initial: RaftInitialState(hardState: hs, entries: common, bootstrap: net.bootstrap))
        net.setNode(3, initial: RaftInitialState(hardState: hs, entries: common + (2...4).map {
            Entry(term: 2, index: $0, data: [8])
        }, bootstrap: net.bootstrap))
        net.isolate(3)
        net.campaign(1)
        for i in 0..<6 { try net.propose(1, [UInt8(i)]) }
        net.tickAll(2)
        try net.nodes[1]!.compact(snapshot: Self.snapshot(of: net, 1))
        net.heal()
        net.tickAll(3)
        let snapIndex = net.storage[3]!.snapshot?.metadata.index ?? 0
        #expect(snapIndex > 4)
        #expect(!net.storage[3]!.entries.contains { $0.term == 2 && $0.data == [8] })
        #expect(net.status(3).lastIndex == net.status(1).lastIndex)
    }

    @Test func snapshot_reportSnapshotFailureReturnsToProbe() throws {
        var net = try Self.node3BehindTheLeadersSnapshot(entries: 4)
        net.dropTypes = [.installSnapshot]
        net.heal()
        net.tickAll(1)
        #expect(net.status(1).progress[3]?.state == .snapshot)
        net.nodes[1]!.reportSnapshot(3, success: false)
        #expect(net.status(1).progress[3]?.state == .probe)
        net.dropTypes = []
        net.tickAll(3)
        #expect(net.status(3).commit == net.status(1).commit)
    }

    @Test func snapshot_lostSnapshotIsRetriedAfterElectionTimeout() throws {
        var net = try Self.node3BehindTheLeadersSnapshot(entries: 4)
        net.dropTypes = [.installSnapshot]
        net.heal()
        net.tickAll(2)
        net.dropTypes = []
        net.tickAll(15)
        #expect(net.status(3).commit == net.status(1).commit)
    }

    @Test func snapshot_progressReportedByTheTransferKeepsTheLeaderWaiting() throws {
        var net = try Self.node3BehindTheLeadersSnapshot(entries: 4)
        net.dropTypes = [.installSnapshot]  // a long transfer: the snapshot does not arrive yet
        net.heal()
        net.tickAll(1)
        #expect(net.status(1).progress[3]?.state == .snapshot)
        // The transfer reports progress more often than an election timeout: the leader waits (no
        // probing append to the follower, which would answer with a rejection and a new snapshot).
        let deliveredBefore = net.delivered.count
        for _ in 0..<6 {
            net.tickAll(8)
            net.nodes[1]!.reportSnapshotProgress(3)
            #expect(net.status(1).progress[3]?.state == .snapshot)
        }
        let probes = net.delivered[deliveredBefore...].filter { $0.type == .append && $0.from == 1 && $0.to == 3 }
        #expect(probes.isEmpty, "the leader probed node 3 \(probes.count) times during the transfer")
        // Silence for an election timeout: the snapshot is presumed lost, the leader probes again.
        net.tick(1, times: 10)
        #expect(net.status(1).progress[3]?.state == .probe)
    }

    @Test func snapshot_restartFromSnapshotKeepsConfiguration() throws {
        var net = TestNetwork(voters: [1, 2, 3])
        net.campaign(1)
        for i in 0..<4 { try net.propose(1, [UInt8(i)]) }
        net.tickAll(2)
        let snap = Self.snapshot(of: net, 2)
        try net.nodes[2]!.compact(snapshot: snap)
        net.storage[2]!.snapshot = snap
        net.storage[2]!.entries.removeAll { $0.index <= snap.metadata.index }
        net.restart(2)
        #expect(net.status(2).confState.voters == [1, 2, 3])
        #expect(net.status(2).firstIndex == snap.metadata.index + 1)
        try net.propose(1, [50])
        net.tickAll(2)
        #expect(net.storage[2]!.applied.last?.data == [50])
    }
}
