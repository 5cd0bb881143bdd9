import AlmanacRaft
import Testing
@testable import AlmanacSimulation

@Suite struct SeededRandomTests {
    @Test func sameSeedSameStream() {
        var a = Xoshiro256StarStar(seed: 42)
        var b = Xoshiro256StarStar(seed: 42)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
    }

    @Test func knownSplitMix64Output() {
        // Reference values of SplitMix64 seeded with 0.
        var g = SplitMix64(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test func derivedStreamsDiffer() {
        var a = Xoshiro256StarStar.derived(seed: 7, stream: 1)
        var b = Xoshiro256StarStar.derived(seed: 7, stream: 2)
        #expect(a.next() != b.next())
    }

    @Test func chanceRespectsExtremes() {
        var g = Xoshiro256StarStar(seed: 1)
        for _ in 0..<100 {
            let never = g.chance(0)
            let always = g.chance(1)
            #expect(!never)
            #expect(always)
        }
    }

    @Test func stableHasherIsStable() {
        var h = StableHasher()
        h.combine([1, 2, 3])
        var k = StableHasher()
        k.combine([1, 2, 3])
        #expect(h.value == k.value)
        k.combine(UInt64(1))
        #expect(h.value != k.value)
    }
}

@Suite struct EventQueueTests {
    @Test func popsByTimeThenInsertionOrder() {
        var q = EventQueue<String>()
        q.push("c", at: 5)
        q.push("a", at: 1)
        q.push("d", at: 5)
        q.push("b", at: 3)
        var out: [String] = []
        while let (_, item) = q.pop() { out.append(item) }
        #expect(out == ["a", "b", "c", "d"])
    }
}

@Suite struct SimulatedDiskTests {
    func entries(_ range: ClosedRange<LogIndex>, term: Term) -> [Entry] {
        range.map { Entry(term: term, index: $0, data: [UInt8($0 & 0xFF)]) }
    }

    @Test func syncedWritesSurviveCrash() {
        var disk = InMemoryRaftStorage()
        var random = Xoshiro256StarStar(seed: 1)
        disk.write([.entries(entries(1...3, term: 1)), .hardState(HardState(term: 1, vote: 2, commit: 2))])
        disk.sync()
        disk.crash(mode: .loseUnsynced, using: &random)
        #expect(disk.durable.lastIndex == 3)
        #expect(disk.durable.hardState == HardState(term: 1, vote: 2, commit: 2))
    }

    @Test func unsyncedWritesAreLostOnCrash() {
        var disk = InMemoryRaftStorage()
        var random = Xoshiro256StarStar(seed: 1)
        disk.write([.entries(entries(1...3, term: 1))])
        disk.sync()
        disk.write([.entries(entries(4...6, term: 1)), .hardState(HardState(term: 2, vote: 3, commit: 0))])
        #expect(disk.visible.lastIndex == 6)
        #expect(disk.hasUnsyncedWrites)
        disk.crash(mode: .loseUnsynced, using: &random)
        #expect(disk.durable.lastIndex == 3)
        #expect(disk.visible.lastIndex == 3)
        #expect(disk.durable.hardState == HardState())
    }

    @Test func tornCrashKeepsOnlyAPrefixOfUnsyncedEntries() {
        var sawTear = false
        for seed in 0..<64 {
            var disk = InMemoryRaftStorage()
            var random = Xoshiro256StarStar(seed: UInt64(seed))
            disk.write([.entries(entries(1...2, term: 1))])
            disk.sync()
            disk.write([.entries(entries(3...10, term: 2)), .hardState(HardState(term: 2, vote: 1, commit: 0))])
            disk.crash(mode: .tornPrefix, using: &random)
            let last = disk.durable.lastIndex
            #expect((2...10).contains(last))
            // Whatever survived is a prefix: contiguous, and the hard state only if all entries did.
            for i in 1...last { #expect(disk.durable.entry(at: i) != nil) }
            if disk.durable.hardState.term == 2 { #expect(last == 10) }
            if last > 2 && last < 10 { sawTear = true }
        }
        #expect(sawTear)
    }

    @Test func appendTruncatesConflictingSuffix() {
        var disk = InMemoryRaftStorage()
        disk.write([.entries(entries(1...5, term: 1))])
        disk.write([.entries(entries(3...4, term: 2))])
        #expect(disk.visible.lastIndex == 4)
        #expect(disk.visible.term(at: 3) == 2)
        #expect(disk.visible.term(at: 2) == 1)
        #expect(disk.anomalies.isEmpty)
    }

    @Test func gapIsReportedAsAnomaly() {
        var disk = InMemoryRaftStorage()
        disk.write([.entries(entries(1...2, term: 1))])
        disk.write([.entries(entries(5...6, term: 1))])
        #expect(disk.anomalies.count == 1)
        #expect(disk.visible.lastIndex == 2)
    }

    @Test func applicationSnapshotCompactsAndIsDurable() {
        var disk = InMemoryRaftStorage()
        var random = Xoshiro256StarStar(seed: 3)
        disk.write([.entries(entries(1...6, term: 1))])
        disk.sync()
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 4, term: 1, confState: ConfState(voters: [1, 2, 3])),
                                data: [9])
        disk.saveApplicationSnapshot(snapshot)
        disk.crash(mode: .loseUnsynced, using: &random)
        #expect(disk.durable.snapshotIndex == 4)
        #expect(disk.durable.entries.map(\.index) == [5, 6])
        #expect(disk.durable.term(at: 4) == 1)
        #expect(disk.durable.entry(at: 4) == nil)
    }

    @Test func installedSnapshotWithConflictingTermDropsTheLog() {
        var image = RaftLogImage()
        image.append(entries(1...6, term: 1))
        image.install(Snapshot(metadata: SnapshotMetadata(index: 4, term: 3, confState: ConfState()), data: []))
        #expect(image.lastIndex == 4)
        #expect(image.entries.isEmpty)
    }
}

@Suite struct SimulatedNetworkTests {
    @Test func bridgePartitionKeepsBridgeReachable() {
        var net = SimulatedNetwork(slots: 5)
        net.bridge(2, left: [0, 1], right: [3, 4])
        #expect(net.isBlocked(from: 0, to: 3))
        #expect(net.isBlocked(from: 4, to: 1))
        #expect(!net.isBlocked(from: 0, to: 2))
        #expect(!net.isBlocked(from: 2, to: 4))
        #expect(!net.isBlocked(from: 0, to: 1))
    }

    @Test func asymmetricCutBlocksOneDirection() {
        var net = SimulatedNetwork(slots: 3)
        net.cutOneWay(from: [0], to: [1, 2])
        #expect(net.isBlocked(from: 0, to: 1))
        #expect(!net.isBlocked(from: 1, to: 0))
        net.healAll()
        #expect(!net.isPartitioned)
    }
}

@Suite struct KeyValueStateMachineTests {
    @Test func commandsRoundTripAndSnapshotRestores() {
        let command = KeyValueCommand(opID: 0x0102_0304_0506_0708, key: 3)
        #expect(KeyValueCommand(decoding: command.encoded) == command)
        #expect(KeyValueCommand(decoding: []) == nil)
        var machine = KeyValueStateMachine(keyCount: 4)
        machine.apply(Entry(term: 1, index: 1))
        machine.apply(Entry(term: 1, index: 2, data: command.encoded))
        #expect(machine.value(of: 3) == command.opID)
        let restored = KeyValueStateMachine(snapshotData: machine.snapshotData)
        #expect(restored == machine)
        #expect(KeyValueStateMachine(snapshotData: [1, 2]) == nil)
    }

    @Test func aSessionsWriteTakesEffectOnceAndItsResultSurvivesASnapshot() throws {
        let write = KeyValueCommand(opID: 7, key: 1, session: 3, sequence: 1)
        #expect(KeyValueCommand(decoding: write.encoded) == write)
        #expect(write.encoded.count == 25)
        #expect(KeyValueCommand(decoding: KeyValueCommand(opID: 7, key: 1).encoded)?.session == 0)
        var machine = KeyValueStateMachine(keyCount: 2)
        let first = machine.apply(Entry(term: 1, index: 1, data: write.encoded))
        #expect(first == KeyValueApplied(command: write, result: 0, duplicate: false))
        machine.apply(Entry(term: 1, index: 2, data: KeyValueCommand(opID: 9, key: 1).encoded))
        var restored = try #require(KeyValueStateMachine(snapshotData: machine.snapshotData))
        #expect(restored == machine)
        // The replay of sequence 1 (another opID would not matter) answers the first result, changes nothing.
        let replay = restored.apply(Entry(term: 2, index: 3, data: write.encoded))
        #expect(replay == KeyValueApplied(command: write, result: 0, duplicate: true))
        #expect(restored.value(of: 1) == 9)
        #expect(KeyValueStateMachine(snapshotData: machine.snapshotData + [0]) == nil)
    }

    @Test func digestDependsOnEveryEntry() {
        var a = KeyValueStateMachine(keyCount: 1)
        var b = KeyValueStateMachine(keyCount: 1)
        a.apply(Entry(term: 1, index: 1, data: [1]))
        b.apply(Entry(term: 2, index: 1, data: [1]))
        #expect(a.digest != b.digest)
    }
}
