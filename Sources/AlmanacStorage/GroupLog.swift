import AlmanacRaft

/// An entry's term and where its record is.
struct IndexedEntry: Sendable {
    var term: Term
    var location: RecordLocation
}

/// A truncation record that may still be needed to hide stale entries in older segments.
struct TruncationMarker: Sendable {
    var index: LogIndex
    var location: RecordLocation
}

/// The in-memory index of one group: entry index -> record location, plus the latest hard state,
/// snapshot and compaction point and where their records are (needed to purge or rewrite segments).
struct GroupLog: Sendable {
    var hardState = HardState()
    var hardStateLocation: RecordLocation?
    var snapshot: SnapshotReference?
    var snapshotLocation: RecordLocation?
    /// Entries up to here are obsolete (covered by a snapshot).
    var compactedIndex: LogIndex = 0
    var compactedTerm: Term = 0
    var compactionLocation: RecordLocation?
    /// `entries[k]` is the entry at index `compactedIndex + 1 + k`.
    var entries: [IndexedEntry] = []
    var truncations: [TruncationMarker] = []

    var firstIndex: LogIndex { compactedIndex + 1 }
    var lastIndex: LogIndex { compactedIndex + LogIndex(entries.count) }

    /// The term at `index` if known: a stored entry, or the compaction point.
    func term(at index: LogIndex) -> Term? {
        if index == compactedIndex { return compactedTerm }
        guard index > compactedIndex, index <= lastIndex else { return nil }
        return entries[Int(index - compactedIndex - 1)].term
    }

    /// Removes entries from `index` on.
    mutating func truncate(from index: LogIndex) {
        if index <= compactedIndex + 1 {
            entries.removeAll()
        } else if index <= lastIndex {
            entries.removeLast(Int(lastIndex - index + 1))
        }
    }

    /// Drops entries up to `index`; the compaction point becomes (`index`, `term`).
    mutating func compact(through index: LogIndex, term: Term) {
        guard index > compactedIndex else { return }
        let drop = min(entries.count, Int(index - compactedIndex))
        entries.removeFirst(drop)
        compactedIndex = index
        compactedTerm = term
    }
}

/// Rebuilds a ``GroupLog`` from records replayed in log order. Entries may arrive out of index
/// order (records copied forward by a segment rewrite), so they are collected by index first.
struct GroupReplay {
    var log = GroupLog()
    var entries: [LogIndex: IndexedEntry] = [:]

    mutating func apply(_ header: RecordHeader, payload: [UInt8], location: RecordLocation) throws(ByteReader.Truncated) {
        switch header.type {
        case .entry:
            entries[header.index] = IndexedEntry(term: header.term, location: location)
        case .hardState:
            log.hardState = try RecordPayload.decodeHardState(payload)
            log.hardStateLocation = location
        case .compaction:
            if header.index >= log.compactedIndex {
                log.compactedIndex = header.index
                log.compactedTerm = header.term
                log.compactionLocation = location
            }
        case .truncation:
            entries = entries.filter { $0.key < header.index }
            log.truncations.append(TruncationMarker(index: header.index, location: location))
        case .snapshot:
            let reference = try RecordPayload.decodeSnapshotReference(
                payload, group: header.group, index: header.index, term: header.term)
            if header.index >= (log.snapshot?.index ?? 0) {
                log.snapshot = reference
                log.snapshotLocation = location
            }
            if header.entryType == RecordType.installedSnapshotFlag, header.index > log.compactedIndex {
                let holdsSnapshotEntry = entries[header.index]?.term == header.term
                if !holdsSnapshotEntry { entries.removeAll() }
                log.compactedIndex = header.index
                log.compactedTerm = header.term
            }
        }
    }

    /// The final index; entries must be contiguous right after the compaction point.
    func finish(group: GroupID) -> Result<GroupLog, StorageError> {
        var result = log
        let live = entries.filter { $0.key > log.compactedIndex }.sorted { $0.key < $1.key }
        var expected = log.compactedIndex + 1
        for (index, entry) in live {
            guard index == expected else {
                return .failure(.corruptFile(file: "group \(group)",
                    reason: "entry \(expected) is missing from the log (next stored entry is \(index))"))
            }
            result.entries.append(entry)
            expected += 1
        }
        return .success(result)
    }
}
