import AlmanacRaft

/// The Raft state one replica keeps on disk: hard state, the latest snapshot and the entries after it.
public struct RaftLogImage: Sendable, Hashable {
    public var hardState = HardState()
    public var snapshot: Snapshot?
    /// Contiguous entries after the snapshot: `entries[k].index == snapshotIndex + 1 + k`.
    public var entries: [Entry] = []

    public init() {}

    public var snapshotIndex: LogIndex { snapshot?.metadata.index ?? 0 }
    public var snapshotTerm: Term { snapshot?.metadata.term ?? 0 }
    public var lastIndex: LogIndex { snapshotIndex + LogIndex(entries.count) }

    /// The term of the entry at `index`, the snapshot term at the snapshot index, or nil if unknown.
    public func term(at index: LogIndex) -> Term? {
        if index == snapshotIndex { return snapshotTerm }
        guard let entry = entry(at: index) else { return nil }
        return entry.term
    }

    /// The entry at `index` if it is held (not compacted, not beyond the end).
    public func entry(at index: LogIndex) -> Entry? {
        guard index > snapshotIndex, index <= lastIndex else { return nil }
        return entries[Int(index - snapshotIndex - 1)]
    }

    /// Appends `newEntries`, first truncating any suffix from `newEntries.first.index`.
    /// Returns a description of the problem if the write would leave a gap in the log.
    @discardableResult
    mutating func append(_ newEntries: [Entry]) -> String? {
        guard let first = newEntries.first?.index else { return nil }
        if first > lastIndex + 1 {
            return "log write at index \(first) leaves a gap after last index \(lastIndex)"
        }
        var toAppend = newEntries[...]
        while let head = toAppend.first, head.index <= snapshotIndex { toAppend = toAppend.dropFirst() }
        guard let start = toAppend.first?.index else { return nil }
        entries.removeSubrange(Int(start - snapshotIndex - 1)...)
        entries.append(contentsOf: toAppend)
        return nil
    }

    /// Installs `snapshot`. Entries after it survive only if the log agrees with it at its index.
    mutating func install(_ newSnapshot: Snapshot) {
        let index = newSnapshot.metadata.index
        guard index > snapshotIndex else { return }
        if let t = term(at: index), t == newSnapshot.metadata.term {
            entries.removeSubrange(0..<Int(index - snapshotIndex))
        } else {
            entries.removeAll()
        }
        snapshot = newSnapshot
    }

    mutating func apply(_ write: DiskWrite) -> String? {
        switch write {
        case .snapshot(let s): install(s); return nil
        case .entries(let es): return append(es)
        case .hardState(let h): hardState = h; return nil
        }
    }
}

/// One buffered write to a simulated disk.
public enum DiskWrite: Sendable, Hashable {
    case snapshot(Snapshot)
    case entries([Entry])
    case hardState(HardState)
}
