import AlmanacAnswersAhead
import AlmanacPotentialEntries
import AlmanacRaft

/// A client command carried in a log entry: write `opID` as the value of register `key`. Commands
/// of a client session (async clients, ``AsyncClient``) also carry the session and the sequence
/// number, which make a retry or replay apply at most once.
public struct KeyValueCommand: Sendable, Hashable {
    public var opID: UInt64
    public var key: UInt8
    /// The client session, or 0 for a command outside any session (applied every time).
    public var session: UInt64
    public var sequence: UInt64

    public init(opID: UInt64, key: UInt8, session: UInt64 = 0, sequence: UInt64 = 0) {
        self.opID = opID
        self.key = key
        self.session = session
        self.sequence = sequence
    }

    /// 9 bytes (opID, key), or 25 with a session (opID, key, session, sequence).
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(session == 0 ? 9 : 25)
        func put(_ x: UInt64) { for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: x >> UInt64(shift))) } }
        put(opID)
        bytes.append(key)
        if session != 0 {
            put(session)
            put(sequence)
        }
        return bytes
    }

    /// Decodes a command; nil for a no-op or foreign payload.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count == 9 || bytes.count == 25 else { return nil }
        func get(_ offset: Int) -> UInt64 {
            var x: UInt64 = 0
            for i in 0..<8 { x |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
            return x
        }
        opID = get(0)
        key = bytes[8]
        session = bytes.count == 25 ? get(9) : 0
        sequence = bytes.count == 25 ? get(17) : 0
        guard bytes.count == 9 || session != 0 else { return nil }
    }
}

/// What applying a command did: the register's previous value is the command's result (so an
/// answer depends on every write before it), or, for a session's sequence applied before, the
/// result recorded then (nothing changes).
public struct KeyValueApplied: Sendable, Hashable {
    public var command: KeyValueCommand
    public var result: UInt64
    public var duplicate: Bool
}

/// The replicated application: a map of registers, each holding the id of the last write to it
/// (0 initially), and the results of client sessions' commands (exactly-once). It also keeps a
/// digest of everything applied, so replicas can be compared.
public struct KeyValueStateMachine: Sendable, Hashable {
    public private(set) var values: [UInt64]
    public private(set) var appliedIndex: LogIndex = 0
    public private(set) var appliedTerm: Term = 0
    /// Rolling digest of every entry applied so far (index, term, type, data).
    public private(set) var digest: UInt64 = 0
    /// Per session: the result of each sequence applied.
    public private(set) var sessionResults: [UInt64: [UInt64: UInt64]] = [:]
    /// Pending potential entries (predicted writes), by the shared rules of
    /// `AlmanacPotentialEntries` (``PotentialCommand``; docs/simulation.md, "Potential entries").
    public internal(set) var potentials = PendingPotentials<KeyValueCommand>(capacity: KeyValueStateMachine.maxPendingPotentials)

    /// At most this many potential entries are pending; further issues are refused.
    public static let maxPendingPotentials = 4

    public init(keyCount: Int) { values = Array(repeating: 0, count: keyCount) }

    public func value(of key: Int) -> UInt64 { values[key] }

    /// Applies one committed entry; returns what its command did, if it carried one.
    @discardableResult
    public mutating func apply(_ entry: Entry, rules: PotentialRules = PotentialRules()) -> KeyValueApplied? {
        var h = StableHasher()
        h.combine(digest)
        h.combine(entry.index)
        h.combine(entry.term)
        h.combine(UInt64(entry.type.rawValue))
        h.combine(entry.data)
        digest = h.value
        appliedIndex = entry.index
        appliedTerm = entry.term
        guard entry.type == .normal else { return nil }
        if let potential = PotentialCommand(decoding: entry.data) {
            let (applied, outcome) = apply(potential, at: entry.index, rules: rules)
            // What the command did is part of the state every replica must agree on.
            h.combine(outcome.rawValue)
            h.combine(UInt64(potentials.count))
            digest = h.value
            return applied
        }
        guard let command = KeyValueCommand(decoding: entry.data), Int(command.key) < values.count else { return nil }
        return execute(command)
    }

    mutating func execute(_ command: KeyValueCommand, recordsSession: Bool = true) -> KeyValueApplied {
        if command.session != 0, recordsSession, let recorded = sessionResults[command.session]?[command.sequence] {
            return KeyValueApplied(command: command, result: recorded, duplicate: true)
        }
        let previous = values[Int(command.key)]
        values[Int(command.key)] = command.opID
        if command.session != 0, recordsSession { sessionResults[command.session, default: [:]][command.sequence] = previous }
        return KeyValueApplied(command: command, result: previous, duplicate: false)
    }

    /// Serialized state for a Raft snapshot.
    public var snapshotData: [UInt8] {
        var out: [UInt8] = []
        func put(_ x: UInt64) { for s in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: x >> UInt64(s))) } }
        put(appliedIndex)
        put(appliedTerm)
        put(digest)
        put(UInt64(values.count))
        for v in values { put(v) }
        put(UInt64(sessionResults.count))
        for session in sessionResults.keys.sorted() {
            let results = sessionResults[session] ?? [:]
            put(session)
            put(UInt64(results.count))
            for sequence in results.keys.sorted() {
                put(sequence)
                put(results[sequence] ?? 0)
            }
        }
        put(UInt64(bitPattern: potentials.lastSweep))
        put(UInt64(potentials.count))
        for potential in potentials.sortedByID {
            put(potential.id)
            put(potential.session)
            put(UInt64(bitPattern: potential.issuedAt))
            put(UInt64(bitPattern: potential.expiresAt))
            put(potential.prepared.opID)
            put(UInt64(potential.prepared.key))
        }
        return out
    }

    /// Restores from ``snapshotData``; nil if the bytes are malformed.
    public init?(snapshotData bytes: [UInt8]) {
        var offset = 0
        func get() -> UInt64? {
            guard offset + 8 <= bytes.count else { return nil }
            var x: UInt64 = 0
            for i in 0..<8 { x |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
            offset += 8
            return x
        }
        guard let index = get(), let term = get(), let dig = get(), let n = get(), n < 1 << 16 else { return nil }
        var vals: [UInt64] = []
        for _ in 0..<n {
            guard let v = get() else { return nil }
            vals.append(v)
        }
        guard let sessionCount = get(), sessionCount < 1 << 16 else { return nil }
        var sessions: [UInt64: [UInt64: UInt64]] = [:]
        for _ in 0..<sessionCount {
            guard let session = get(), let count = get(), count < 1 << 20 else { return nil }
            var results: [UInt64: UInt64] = [:]
            for _ in 0..<count {
                guard let sequence = get(), let result = get() else { return nil }
                results[sequence] = result
            }
            sessions[session] = results
        }
        guard let lastSweep = get(), let potentialCount = get(), potentialCount <= UInt64(Self.maxPendingPotentials) else { return nil }
        var restored: [PendingPotential<KeyValueCommand>] = []
        for _ in 0..<potentialCount {
            guard let id = get(), let session = get(), let issuedAt = get(), let expiresAt = get(), let opID = get(),
                  let key = get(), key < UInt64(vals.count) else { return nil }
            let write = KeyValueCommand(opID: opID, key: UInt8(key))
            restored.append(PendingPotential(id: id, session: session, tag: write.potentialTag, issuedAt: Int64(bitPattern: issuedAt),
                                             expiresAt: Int64(bitPattern: expiresAt), prepared: write))
        }
        guard offset == bytes.count,
              let pending = try? PendingPotentials(capacity: Self.maxPendingPotentials, lastSweep: Int64(bitPattern: lastSweep),
                                                   entries: restored) else { return nil }
        potentials = pending
        values = vals
        appliedIndex = index
        appliedTerm = term
        digest = dig
        sessionResults = sessions
    }
}

/// The state ahead of a simulated leader (async durability) is a copy of its register machine.
extension KeyValueStateMachine: AheadApplicable {
    /// Applies a proposal's payload without touching the digest or the applied index (the state
    /// ahead is only asked for results).
    public mutating func apply(_ data: [UInt8], at index: LogIndex) -> KeyValueApplied? {
        if let potential = PotentialCommand(decoding: data) { return apply(potential, at: index, rules: PotentialRules()).applied }
        guard let command = KeyValueCommand(decoding: data), Int(command.key) < values.count else { return nil }
        return execute(command)
    }
}
