import AlmanacPotentialEntries
import Testing

@Suite("The pending potential entries' rules")
struct PendingPotentialsTests {
    typealias Entry = PendingPotential<String>

    static func entry(_ id: UInt64, session: UInt64 = 1, tag: UInt64 = 7, at issuedAt: Int64 = 0, expires: Int64 = 1_000) -> Entry {
        Entry(id: id, session: session, tag: tag, issuedAt: issuedAt, expiresAt: expires, prepared: "op\(id)")
    }

    @Test func aConfirmationTakesTheOldestUnexpiredEntryOfItsSessionAndTag() throws {
        var pending = PendingPotentials<String>(capacity: 8)
        try pending.issue(Self.entry(5), now: 0)
        try pending.issue(Self.entry(3), now: 0)
        try pending.issue(Self.entry(4, session: 2), now: 0)
        try pending.issue(Self.entry(6, tag: 8), now: 0)
        let first = pending.confirm(session: 1, tag: 7, now: 10)
        let second = pending.confirm(session: 1, tag: 7, now: 10)
        let third = pending.confirm(session: 1, tag: 7, now: 10)
        let expired = pending.confirm(session: 1, tag: 8, now: 1_001)
        #expect(first?.id == 3)
        #expect(second?.id == 5)
        #expect(third == nil, "each entry confirms once")
        #expect(expired == nil, "an expired entry no longer confirms")
        #expect(pending.sortedByID.map(\.id) == [4, 6])
    }

    @Test func issuesAreRefusedWhenAlreadyExpiredOrOverCapacity() throws {
        var pending = PendingPotentials<String>(capacity: 1)
        #expect(throws: PotentialRefusal.expiresBeforeIssue(expiresAt: 1_000, now: 1_000)) {
            try pending.checkIssue(expiresAt: 1_000, now: 1_000)
        }
        try pending.issue(Self.entry(1), now: 0)
        let full = pending
        #expect(throws: PotentialRefusal.full(capacity: 1)) {
            var attempt = full
            try attempt.issue(Self.entry(2), now: 0)
        }
        #expect(pending.count == 1)
    }

    @Test func expirySessionsAndSweepsDropEntries() throws {
        var pending = PendingPotentials<String>(capacity: 8)
        try pending.issue(Self.entry(1, expires: 50_000_000), now: 0)
        try pending.issue(Self.entry(2, session: 2, expires: 500_000_000), now: 0)
        try pending.issue(Self.entry(3, session: 3, expires: 500_000_000), now: 0)
        pending.expire([3, 99])
        #expect(pending.sortedByID.map(\.id) == [1, 2])
        // Within the first 100 ms of command time nothing is swept; past it, the expired entry goes.
        pending.sweep(now: 60_000_000)
        #expect(pending.count == 2)
        pending.sweep(now: 100_000_000)
        #expect(pending.sortedByID.map(\.id) == [2])
        pending.drop(session: 2)
        #expect(pending.isEmpty)
    }

    @Test func aRestoredSetRefusesDuplicates() throws {
        #expect(throws: PotentialRefusal.duplicate(id: 1)) {
            _ = try PendingPotentials(capacity: 4, lastSweep: 0, entries: [Self.entry(1), Self.entry(1)])
        }
        let restored = try PendingPotentials(capacity: 4, lastSweep: 7, entries: [Self.entry(2), Self.entry(1)])
        #expect(restored.sortedByID.map(\.id) == [1, 2])
        #expect(restored.lastSweep == 7)
    }
}

@Suite("The leader's issued predictions")
struct IssuedPotentialsTests {
    typealias Key = IssuedPotentials<String>.Key

    @Test func aRequestMatchesATrackedEntryOnceBeforeItsDeadline() {
        var issued = IssuedPotentials<String>()
        let key = Key(session: 1, tag: 9)
        issued.proposed("mkdir a", key: key, deadline: 100, now: 0)
        let otherSession = issued.match(Key(session: 2, tag: 9), now: 10)
        let first = issued.match(key, now: 10)
        let second = issued.match(key, now: 10)
        #expect(!otherSession)
        #expect(first)
        #expect(!second, "a matched entry stops being tracked")
        issued.proposed("mkdir a", key: key, deadline: 100, now: 0)
        let late = issued.match(key, now: 101)
        #expect(!late, "past its deadline the request is journaled in full")
    }

    @Test func overdueEntriesAreExpiredOnceCommittedAndForgottenWhenNeverHeard() {
        var issued = IssuedPotentials<String>()
        issued.proposed("a", key: Key(session: 1, tag: 1), deadline: 10, now: 0)
        issued.proposed("b", key: Key(session: 1, tag: 2), deadline: 10, now: 0)
        issued.proposed("c", key: Key(session: 1, tag: 3), deadline: 1_000, now: 0)
        issued.committed(Key(session: 1, tag: 2), id: 42)
        issued.committed(Key(session: 1, tag: 3), id: 43)
        let due = issued.overdue(now: 20, forgetUnheardAfter: 50)
        #expect(due == [42])
        #expect(issued.count == 2, "the unheard entry waits for its journal expiry")
        let later = issued.overdue(now: 60, forgetUnheardAfter: 50)
        #expect(later.isEmpty)
        #expect(issued.count == 1)
        issued.failed(Key(session: 1, tag: 3))
        #expect(issued.count == 0)
    }
}
