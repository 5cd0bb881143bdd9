import Testing
@testable import AlmanacMetadata

@Suite("Snapshots and digests")
struct SnapshotTests {
    @Test func freshStateRoundTrips() throws {
        let machine = MetadataStateMachine(config: MetadataConfig(shardID: 3, sessionResultWindow: 5))
        let restored = try MetadataStateMachine(restoringFrom: machine.snapshot())
        #expect(restored == machine)
        #expect(restored.digest == machine.digest)
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func randomHistoryRoundTripsAndContinuesIdentically(seed: UInt64) throws {
        var workload = RandomWorkload(seed: seed)
        var machine = MetadataStateMachine()
        var successes = 0
        var codes: [ErrorCode: Int] = [:]
        for _ in 0..<1500 {
            let (envelope, index) = workload.next(for: machine)
            let result = machine.apply(envelope, at: index)
            if result.outcome != nil { successes += 1 }
            if let code = result.errorCode { codes[code, default: 0] += 1 }
        }
        // Every kind of failure the workload aims at shows up, and enough succeeds.
        for code in [ErrorCode.eexist, .enoent, .enotdir, .einval, .enotempty, .ebadf, .sessionExpired] {
            #expect(codes[code, default: 0] > 0, "no \(code) in \(codes)")
        }
        #expect(successes > 450, "workload too degenerate: \(successes) successes, failures \(codes)")
        #expect(machine.inodeCount > 5)
        let bytes = machine.snapshot()
        var restored = try MetadataStateMachine(restoringFrom: bytes)
        #expect(restored == machine)
        #expect(restored.digest == machine.digest)
        #expect(restored.snapshot() == bytes)
        // Both continue identically.
        for _ in 0..<500 {
            let (envelope, index) = workload.next(for: machine)
            let expected = machine.apply(envelope, at: index)
            let actual = restored.apply(envelope, at: index)
            #expect(actual == expected)
            if actual != expected { break }
        }
        #expect(restored == machine)
        #expect(restored.digest == machine.digest)
    }

    @Test func replicasApplyingTheSameLogConvergeAndDivergenceShows() {
        var workload = RandomWorkload(seed: 99)
        var a = MetadataStateMachine()
        var b = MetadataStateMachine()
        for _ in 0..<800 {
            let (envelope, index) = workload.next(for: a)
            // Replica b sees each entry encoded, like a follower reading the log.
            #expect(a.apply(envelope, at: index) == b.apply(encoded: envelope.encoded(), at: index))
        }
        #expect(a.digest == b.digest)
        #expect(a == b)
        var c = b
        let (envelope, index) = workload.next(for: c)
        _ = c.apply(envelope, at: index)
        #expect(c.digest != b.digest)
        #expect(b.digest.description.count == 16)
    }

    @Test func corruptSnapshotsAreRefused() throws {
        var workload = RandomWorkload(seed: 5)
        var machine = MetadataStateMachine()
        for _ in 0..<300 {
            let (envelope, index) = workload.next(for: machine)
            _ = machine.apply(envelope, at: index)
        }
        let bytes = machine.snapshot()
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<300 {
            var corrupt = bytes
            let position = Int.random(in: 0..<corrupt.count, using: &rng)
            corrupt[position] ^= UInt8.random(in: 1...255, using: &rng)
            #expect(throws: CodecError.self) { try MetadataStateMachine(restoringFrom: corrupt) }
        }
        for length in [0, 1, 4, 5, 12, bytes.count / 2, bytes.count - 1] {
            #expect(throws: CodecError.self) { try MetadataStateMachine(restoringFrom: Array(bytes.prefix(length))) }
        }
        #expect(throws: CodecError.badMagic(expected: "metadata snapshot")) {
            try MetadataStateMachine(restoringFrom: Array(repeating: 0, count: 40))
        }
        var badVersion = bytes
        badVersion[4] = 9
        #expect(throws: CodecError.unsupportedVersion(9)) { try MetadataStateMachine(restoringFrom: badVersion) }
    }

    @Test func wellFormedButInconsistentSnapshotsAreRefused() {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        let file = h.create(dir, "f")
        // An entry naming a missing inode.
        var dangling = h.machine
        dangling.inodes[dir]?.entries.set("ghost", to: InodeID(segment: dir.segment, counter: 777), type: .regular)
        #expect(throws: CodecError.self) { try MetadataStateMachine(restoringFrom: dangling.snapshot()) }
        // A link count that does not match the entries.
        var badLinks = h.machine
        badLinks.inodes[file]?.attributes.nlink = 5
        #expect(throws: CodecError.self) { try MetadataStateMachine(restoringFrom: badLinks.snapshot()) }
        // An allocation counter behind an existing id.
        var badCounter = h.machine
        badCounter.segmentCounters[file.segment] = 1
        #expect(throws: CodecError.self) { try MetadataStateMachine(restoringFrom: badCounter.snapshot()) }
        // A missing root.
        var noRoot = h.machine
        noRoot.inodes.removeValue(forKey: .root)
        #expect(throws: CodecError.self) { try MetadataStateMachine(restoringFrom: noRoot.snapshot()) }
        // The untouched state restores.
        #expect(throws: Never.self) { try MetadataStateMachine(restoringFrom: h.machine.snapshot()) }
    }

    /// With every segment in the shard, entries and link counts are checked by two multiset sums
    /// (``ReferenceMultiset``); each way they can disagree is refused, and the exact check behind
    /// it names the culprit.
    @Test func entriesAndLinkCountsThatDisagreeAreRefusedWithTheCulprit() {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        let sub = h.mkdir(dir, "sub")
        let file = h.create(dir, "f")
        let other = h.create(.root, "g")
        // A hard link: two entries, nlink 2, restores.
        _ = h.run(.link(target: file, parent: .root, name: "f2"))
        #expect(h.machine.inodes[file]?.attributes.nlink == 2)
        #expect(throws: Never.self) { try MetadataStateMachine(restoringFrom: h.machine.snapshot()) }

        func refused(_ state: MetadataStateMachine, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try MetadataStateMachine(restoringFrom: state.snapshot())
                Issue.record("restored; expected \"\(expected)\"", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(expected), "\(error)", sourceLocation: sourceLocation)
            }
        }
        // One entry moved from one file to another: every count is still plausible alone.
        var swapped = h.machine
        swapped.inodes[.root]?.entries.set("g", to: file, type: .regular)
        refused(swapped, "has nlink")
        // An entry with the wrong type.
        var wrongType = h.machine
        wrongType.inodes[.root]?.entries.set("g", to: other, type: .symlink)
        refused(wrongType, "records the wrong type")
        // A directory listed under a directory that is not its parent (and no longer under its own).
        var moved = h.machine
        _ = moved.inodes[dir]?.entries.remove("sub")
        moved.inodes[.root]?.entries.set("sub", to: sub, type: .directory)
        moved.inodes[.root]?.attributes.nlink += 1
        moved.inodes[dir]?.attributes.nlink -= 1
        refused(moved, "but its parent is \(dir)")
        // A link count one short.
        var short = h.machine
        short.inodes[file]?.attributes.nlink = 1
        refused(short, "inode \(file) has nlink 1 but 2 entries")
    }
}
