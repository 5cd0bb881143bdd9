import AlmanacRaft

/// A client command carried in a log entry: write `opID` as the value of register `key`.
public struct KeyValueCommand: Sendable, Hashable {
    public var opID: UInt64
    public var key: UInt8

    public init(opID: UInt64, key: UInt8) {
        self.opID = opID
        self.key = key
    }

    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(9)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: opID >> UInt64(shift))) }
        bytes.append(key)
        return bytes
    }

    /// Decodes a command; nil for a no-op or foreign payload.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count == 9 else { return nil }
        var id: UInt64 = 0
        for i in 0..<8 { id |= UInt64(bytes[i]) << UInt64(8 * i) }
        opID = id
        key = bytes[8]
    }
}

/// The replicated application: a map of registers, each holding the id of the last write to it
/// (0 initially). It also keeps a digest of everything applied, so replicas can be compared.
public struct KeyValueStateMachine: Sendable, Hashable {
    public private(set) var values: [UInt64]
    public private(set) var appliedIndex: LogIndex = 0
    public private(set) var appliedTerm: Term = 0
    /// Rolling digest of every entry applied so far (index, term, type, data).
    public private(set) var digest: UInt64 = 0

    public init(keyCount: Int) { values = Array(repeating: 0, count: keyCount) }

    public func value(of key: Int) -> UInt64 { values[key] }

    /// Applies one committed entry; returns the command it carried, if any.
    @discardableResult
    public mutating func apply(_ entry: Entry) -> KeyValueCommand? {
        var h = StableHasher()
        h.combine(digest)
        h.combine(entry.index)
        h.combine(entry.term)
        h.combine(UInt64(entry.type.rawValue))
        h.combine(entry.data)
        digest = h.value
        appliedIndex = entry.index
        appliedTerm = entry.term
        guard entry.type == .normal, let command = KeyValueCommand(decoding: entry.data),
              Int(command.key) < values.count else { return nil }
        values[Int(command.key)] = command.opID
        return command
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
        values = vals
        appliedIndex = index
        appliedTerm = term
        digest = dig
    }
}
