import AlmanacKeyspace
import Testing

/// The system group's register: compare-and-swap on revisions that are log indexes, a bounded
/// history per key for watchers, deterministic snapshots.
@Suite struct SystemRegisterTests {
    static func cas(_ key: String, _ expected: UInt64, _ value: String) -> [UInt8] {
        SystemRegisterCommand.compareAndSwap(key: key, expectedRevision: expected, value: Array(value.utf8)).encoded()
    }

    @Test func compareAndSwapStoresAtTheEntrysIndexAndRefusesStaleRevisions() {
        var register = SystemRegister()
        #expect(register.apply(Self.cas("m", 0, "a"), at: 7) == .stored(revision: 7))
        #expect(register.record("m") == SystemRegister.Record(value: Array("a".utf8), revision: 7))
        // Create-if-absent loses once the key exists; a stale revision loses; nothing changes.
        #expect(register.apply(Self.cas("m", 0, "b"), at: 8) == .conflict(actual: 7))
        #expect(register.apply(Self.cas("m", 3, "b"), at: 9) == .conflict(actual: 7))
        #expect(register.record("m")?.value == Array("a".utf8))
        #expect(register.apply(Self.cas("m", 7, "c"), at: 10) == .stored(revision: 10))
        // Keys are independent.
        #expect(register.apply(Self.cas("other", 0, "x"), at: 11) == .stored(revision: 11))
        #expect(register.record("m")?.revision == 10)
        #expect(register.revision == 11)
    }

    @Test func foreignOrTruncatedEntriesAreRejectedWithoutChange() {
        var register = SystemRegister()
        _ = register.apply(Self.cas("m", 0, "a"), at: 1)
        let before = register
        let full = Self.cas("m", 1, "b")
        for bad in [[], [9, 1, 2], Array(full.dropLast()), full + [0], Self.cas("", 1, "b")] as [[UInt8]] {
            guard case .rejected = register.apply(bad, at: 5) else {
                Issue.record("\(bad) was not rejected")
                continue
            }
        }
        #expect(register == before)
    }

    @Test func watchersGetEveryRetainedVersionInOrder() {
        var register = SystemRegister()
        var revision: UInt64 = 0
        for index in 1...UInt64(SystemRegister.historyLimit + 10) {
            #expect(register.apply(Self.cas("m", revision, "v\(index)"), at: index * 2) == .stored(revision: index * 2))
            revision = index * 2
        }
        let newer = register.versions(of: "m", after: revision - 6)
        #expect(newer.map(\.revision) == [revision - 4, revision - 2, revision])
        // Further behind than the history: what is retained, oldest first, the current one last.
        let all = register.versions(of: "m", after: 0)
        #expect(all.count == SystemRegister.historyLimit)
        #expect(all.last == register.record("m"))
        #expect(all.map(\.revision) == all.map(\.revision).sorted())
        #expect(register.versions(of: "m", after: revision).isEmpty)
    }

    @Test func snapshotsRoundTripAndAgreeAcrossReplicas() throws {
        var a = SystemRegister()
        var b = SystemRegister()
        for (index, command) in [Self.cas("x", 0, "1"), Self.cas("y", 0, "2"), Self.cas("x", 1, "3")].enumerated() {
            _ = a.apply(command, at: UInt64(index + 1))
            _ = b.apply(command, at: UInt64(index + 1))
        }
        #expect(a.snapshot() == b.snapshot())
        #expect(a.digest == b.digest)
        let restored = try SystemRegister.restore(from: a.snapshot()).get()
        #expect(restored == a)
        #expect(SystemRegister.isSnapshot(a.snapshot()))
        // Truncations and other state machines' snapshots are refused, never half-restored.
        let snapshot = a.snapshot()
        for cut in [0, 8, 12, snapshot.count - 1] {
            #expect(throws: KeyspaceError.self) { try SystemRegister.restore(from: Array(snapshot.prefix(cut))).get() }
        }
        #expect(throws: KeyspaceError.self) { try SystemRegister.restore(from: snapshot + [1]).get() }
    }
}
