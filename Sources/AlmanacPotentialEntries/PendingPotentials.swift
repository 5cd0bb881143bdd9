/// One potential journal entry pending in a replicated state machine: a predicted operation of a
/// session, journaled ahead of its request (docs/prediction.md, "Potential entries").
public struct PendingPotential<Prepared: Hashable & Sendable>: Hashable, Sendable {
    /// The log index of the entry that issued it.
    public var id: UInt64
    public var session: UInt64
    /// What a confirmation names it by (the application's digest of the predicted operation).
    public var tag: UInt64
    /// Command time (nanoseconds) of the issue, and after which it can no longer be confirmed.
    public var issuedAt: Int64
    public var expiresAt: Int64
    /// The operation, validated and prepared at issue (with the ids it reserved, for example).
    public var prepared: Prepared

    public init(id: UInt64, session: UInt64, tag: UInt64, issuedAt: Int64, expiresAt: Int64, prepared: Prepared) {
        self.id = id
        self.session = session
        self.tag = tag
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.prepared = prepared
    }
}

/// Why a state machine refuses to record a potential entry (the application adds its own checks).
public enum PotentialRefusal: Error, Hashable, Sendable {
    /// The entry would expire at or before its own command time.
    case expiresBeforeIssue(expiresAt: Int64, now: Int64)
    /// `capacity` entries are pending already.
    case full(capacity: Int)
    /// An entry with this id is pending already (only a malformed snapshot can cause it).
    case duplicate(id: UInt64)
}

/// The pending potential entries of one replicated state machine, by the rules every replica
/// applies in log order, so all replicas hold the same set:
///
/// - ``issue(_:now:)`` records an entry (it changes nothing else);
/// - ``confirm(session:tag:now:)`` takes the oldest unexpired entry of that session with that tag:
///   the application then executes what it prepared, as the confirming request; none matches:
///   the application refuses the confirmation before execution, and the leader journals the full
///   operation instead;
/// - ``expire(_:)`` drops named entries (a journal event of the leader);
/// - ``sweep(now:)`` drops entries whose expiry passed, at most once per ``sweepIntervalNanoseconds``
///   of command time, so its cost stays bounded whatever the entry rate;
/// - ``drop(session:)`` drops a closed or expired session's entries.
///
/// Time is always the command time carried by the entry being applied, never a replica's clock.
/// The metadata state machine and the deterministic simulator's register machine both use it.
public struct PendingPotentials<Prepared: Hashable & Sendable>: Hashable, Sendable {
    public static var sweepIntervalNanoseconds: Int64 { 100_000_000 }

    public let capacity: Int
    public private(set) var entries: [UInt64: PendingPotential<Prepared>] = [:]
    /// Command time of the last sweep.
    public private(set) var lastSweep: Int64 = 0

    public init(capacity: Int) { self.capacity = capacity }

    /// Restores a snapshot's entries (refusing duplicates and over-capacity sets).
    public init(capacity: Int, lastSweep: Int64, entries: [PendingPotential<Prepared>]) throws(PotentialRefusal) {
        self.capacity = capacity
        self.lastSweep = lastSweep
        guard entries.count <= capacity else { throw .full(capacity: capacity) }
        for entry in entries {
            guard self.entries.updateValue(entry, forKey: entry.id) == nil else { throw .duplicate(id: entry.id) }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// Entries sorted by id (the order snapshots encode them in).
    public var sortedByID: [PendingPotential<Prepared>] { entries.values.sorted { $0.id < $1.id } }

    /// Records `entry`, issued at command time `now`.
    public mutating func issue(_ entry: PendingPotential<Prepared>, now: Int64) throws(PotentialRefusal) {
        try checkIssue(expiresAt: entry.expiresAt, now: now)
        guard entries[entry.id] == nil else { throw .duplicate(id: entry.id) }
        entries[entry.id] = entry
    }

    /// Checks ``issue(_:now:)``'s rules without recording anything.
    public func checkIssue(expiresAt: Int64, now: Int64) throws(PotentialRefusal) {
        guard expiresAt > now else { throw .expiresBeforeIssue(expiresAt: expiresAt, now: now) }
        guard entries.count < capacity else { throw .full(capacity: capacity) }
    }

    /// Takes the oldest entry of `session` tagged `tag` that has not expired at `now`, or nil.
    public mutating func confirm(session: UInt64, tag: UInt64, now: Int64) -> PendingPotential<Prepared>? {
        var match: PendingPotential<Prepared>?
        for entry in entries.values where entry.session == session && entry.tag == tag && entry.expiresAt >= now {
            if match == nil || entry.id < match?.id ?? .max { match = entry }
        }
        guard let match else { return nil }
        entries.removeValue(forKey: match.id)
        return match
    }

    /// Drops the entries `ids` (absent ones are ignored).
    public mutating func expire(_ ids: [UInt64]) {
        for id in ids { entries.removeValue(forKey: id) }
    }

    /// Drops the entries of `session`.
    public mutating func drop(session: UInt64) {
        guard !entries.isEmpty else { return }
        entries = entries.filter { $0.value.session != session }
    }

    /// Drops every entry (a hand-off of segments drops all predictions: they are only hints).
    public mutating func removeAll() { entries = [:] }

    /// Drops the entries whose expiry passed, when the command time has moved into a new
    /// ``sweepIntervalNanoseconds``.
    public mutating func sweep(now: Int64) {
        let interval = Self.sweepIntervalNanoseconds
        guard !entries.isEmpty, now / interval != lastSweep / interval else { return }
        lastSweep = now
        entries = entries.filter { $0.value.expiresAt >= now }
    }
}
