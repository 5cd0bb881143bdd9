import AlmanacRaft

/// What a purge did, and which groups keep old segments alive.
public struct PurgeReport: Sendable, Equatable {
    /// A group whose live entries pin the oldest segment that could not be purged. The node
    /// should snapshot it (and compact) so the segment can go.
    public struct BlockingGroup: Sendable, Equatable {
        public var group: GroupID
        public var liveEntries: Int
        public var liveBytes: Int
        public var firstLiveIndex: LogIndex
    }

    /// Segments deleted because no live record was left in them.
    public var deletedSegments: [String] = []
    /// Segments whose few live records were copied forward, then deleted.
    public var rewrittenSegments: [String] = []
    public var recordsCopied = 0
    /// The oldest remaining sealed segment (nil when only the active segment is left).
    public var oldestRemainingSegment: String?
    /// Groups with live entries in `oldestRemainingSegment`, most bytes first.
    public var blockingGroups: [BlockingGroup] = []
    /// Superseded snapshot files removed.
    public var deletedSnapshots: [String] = []
}

extension LogEngine {
    private enum LiveKind { case entry(LogIndex), hardState, snapshot, compaction, truncation(Int) }

    private struct LiveRecord {
        var group: GroupID
        var location: RecordLocation
        var kind: LiveKind
    }

    /// Live records per segment, except truncation markers (their liveness depends on which
    /// segments remain, see `truncationIsLive`).
    private func liveRecordsBySegment() -> [UInt64: [LiveRecord]] {
        var live: [UInt64: [LiveRecord]] = [:]
        for (group, log) in groups {
            for (offset, entry) in log.entries.enumerated() {
                live[entry.location.segment, default: []].append(
                    LiveRecord(group: group, location: entry.location, kind: .entry(log.firstIndex + LogIndex(offset))))
            }
            if let location = log.hardStateLocation {
                live[location.segment, default: []].append(LiveRecord(group: group, location: location, kind: .hardState))
            }
            if let location = log.snapshotLocation {
                live[location.segment, default: []].append(LiveRecord(group: group, location: location, kind: .snapshot))
            }
            if let location = log.compactionLocation {
                live[location.segment, default: []].append(LiveRecord(group: group, location: location, kind: .compaction))
            }
        }
        return live
    }

    /// A truncation marker matters while an older segment still holds an entry it removed.
    private func truncationIsLive(_ marker: TruncationMarker, group: GroupID) -> Bool {
        segments.values.contains { segment in
            segment.sequence < marker.location.segment && (segment.maxEntryIndex[group] ?? 0) >= marker.index
        }
    }

    private func liveTruncations(in sequence: UInt64) -> [LiveRecord] {
        var result: [LiveRecord] = []
        for (group, log) in groups {
            for (position, marker) in log.truncations.enumerated()
            where marker.location.segment == sequence && truncationIsLive(marker, group: group) {
                result.append(LiveRecord(group: group, location: marker.location, kind: .truncation(position)))
            }
        }
        return result
    }

    /// Live records of one segment, truncation markers included, in file order.
    private func liveRecords(in sequence: UInt64) -> [LiveRecord] {
        ((liveRecordsBySegment()[sequence] ?? []) + liveTruncations(in: sequence)).sorted { $0.location.offset < $1.location.offset }
    }

    /// Forgets a sealed segment: nothing refers to it any more. Its file stays on disk until
    /// ``deletePurgedFiles(_:in:)`` (a crash before that replays it again, which is harmless).
    private func forgetSegment(_ sequence: UInt64) -> String? {
        guard let segment = segments.removeValue(forKey: sequence) else { return nil }
        segment.file.close()
        return segment.path
    }

    /// Reclaims space: deletes sealed segments with no live record (oldest first), rewrites the
    /// oldest sealed segments while they hold at most `options.rewriteLiveBytesLimit` live bytes
    /// (copying their live records to the tail, syncing, then deleting them), removes superseded
    /// snapshot files, and reports the groups whose entries pin the oldest remaining segment.
    ///
    /// This runs the steps of ``GroupCommitLog/purge(atBoundary:)`` back to back, holding the engine
    /// throughout; the group-commit log runs the same steps with the engine held only inside each
    /// step (docs/storage.md, "Purge").
    public func purge() throws(StorageError) -> PurgeReport {
        var report = PurgeReport()
        let activeAtStart = activeSequence
        try deletePurgedFiles(forgetDeadSegments(into: &report), in: walDirectory)
        while let rewritten = try rewriteOldestSegment(below: activeAtStart, into: &report) {
            try sync()
            try deletePurgedFiles([rewritten.path], in: walDirectory)
        }
        try deletePurgedFiles(concludePurge(into: &report), in: snapshots.directory)
        return report
    }

    /// Purge step 1: forgets the sealed segments that hold no live record and returns their paths
    /// (the caller deletes them, ``deletePurgedFiles(_:in:)``).
    public func forgetDeadSegments(into report: inout PurgeReport) -> [String] {
        let live = liveRecordsBySegment()
        var paths: [String] = []
        for sequence in segments.keys.sorted() where sequence != activeSequence {
            guard (live[sequence] ?? []).isEmpty && liveTruncations(in: sequence).isEmpty,
                  let path = forgetSegment(sequence) else { continue }
            report.deletedSegments.append(SegmentFile.name(sequence: sequence))
            paths.append(path)
        }
        return paths
    }

    /// Purge step 2, repeated: when the oldest sealed segment (older than `limit`, the active
    /// segment when the purge began) holds at most `options.rewriteLiveBytesLimit` live bytes,
    /// copies its live records to the tail, forgets it and returns its name and path; nil otherwise. The
    /// caller must make the copies durable (a sync) before it deletes the file.
    ///
    /// Rewrites only ever take the oldest segment: records copied forward then replay after all
    /// others, which is safe because nothing older remains for them to be ordered against. Sealed
    /// segments are durable (a rotation syncs the segment it seals), so a copied install record
    /// is a completed install.
    public func rewriteOldestSegment(below limit: UInt64, into report: inout PurgeReport) throws(StorageError) -> (name: String, path: String)? {
        try checkAlive()
        guard let oldest = segments.keys.min(), oldest < limit, oldest != activeSequence else { return nil }
        let live = liveRecords(in: oldest)
        let liveBytes = live.reduce(0) { $0 + $1.location.length }
        guard liveBytes <= options.rewriteLiveBytesLimit else { return nil }
        try fatalOnError { () throws(StorageError) in
            for record in live { try copyForward(record) }
        }
        let name = SegmentFile.name(sequence: oldest)
        report.recordsCopied += live.count
        report.rewrittenSegments.append(name)
        return forgetSegment(oldest).map { (name, $0) }
    }

    /// Purge step 3: reports the groups whose entries pin the oldest remaining segment, forgets
    /// truncation markers that no longer matter, and returns the superseded snapshot files (the
    /// caller deletes them).
    public func concludePurge(into report: inout PurgeReport) throws(StorageError) -> [String] {
        if let oldest = segments.keys.min(), oldest != activeSequence {
            report.oldestRemainingSegment = SegmentFile.name(sequence: oldest)
            var blocking: [GroupID: PurgeReport.BlockingGroup] = [:]
            for record in liveRecordsBySegment()[oldest] ?? [] {
                guard case let .entry(index) = record.kind else { continue }
                var entry = blocking[record.group] ?? .init(group: record.group, liveEntries: 0, liveBytes: 0, firstLiveIndex: index)
                entry.liveEntries += 1
                entry.liveBytes += record.location.length
                entry.firstLiveIndex = min(entry.firstLiveIndex, index)
                blocking[record.group] = entry
            }
            report.blockingGroups = blocking.values.sorted { ($0.liveBytes, $1.group) > ($1.liveBytes, $0.group) }
        }
        for (group, log) in groups where !log.truncations.isEmpty {
            groups[group]?.truncations = log.truncations.filter {
                segments[$0.location.segment] != nil && truncationIsLive($0, group: group)
            }
        }
        let superseded = try supersededSnapshotFiles()
        report.deletedSnapshots = superseded
        return superseded.map { joinPath(snapshots.directory, $0) }
    }

    /// Deletes files that a purge step forgot and syncs their directory; a failure stops the engine.
    func deletePurgedFiles(_ paths: [String], in directory: String) throws(StorageError) {
        try fatalOnError { () throws(StorageError) in try Self.deleteFiles(paths, in: directory, on: fileSystem) }
    }

    /// Deletes files and syncs their directory. It touches only the file system, never an engine's
    /// state, so the group-commit log runs it without holding the engine.
    static func deleteFiles(_ paths: [String], in directory: String, on fileSystem: any StorageFileSystem) throws(StorageError) {
        guard !paths.isEmpty else { return }
        for path in paths { try fileSystem.delete(path) }
        try fileSystem.syncDirectory(directory)
    }

    private func copyForward(_ record: LiveRecord) throws(StorageError) {
        let (header, payload) = try readRecord(record.location)
        // A copied snapshot record loses the install flag: its install is complete and durable
        // (purge syncs first), and replayed after newer entries the flag would drop them.
        let entryType = header.type == .snapshot ? 0 : header.entryType
        let moved = try appendRecord(header.type, entryType: entryType, group: header.group, index: header.index,
                                     term: header.term, payload: payload)
        // Taken out of the dictionary while it changes, as `apply` does: changed in place there,
        // the group's entry index would be copied whole for every record copied forward (a
        // segment of 100k records against an index of 300k entries: the engine held for tens of
        // seconds, the writers and the host waiting, elections on every node).
        guard var log = groups.removeValue(forKey: record.group) else { return }
        defer { groups[record.group] = log }
        switch record.kind {
        case let .entry(index): log.entries[Int(index - log.firstIndex)].location = moved
        case .hardState: log.hardStateLocation = moved
        case .snapshot: log.snapshotLocation = moved
        case .compaction: log.compactionLocation = moved
        case let .truncation(position): log.truncations[position].location = moved
        }
    }

    /// Snapshot files older than their group's recorded snapshot (newer, not yet installed files
    /// are kept).
    private func supersededSnapshotFiles() throws(StorageError) -> [String] {
        var superseded: [String] = []
        for name in try fileSystem.list(snapshots.directory) where name.hasSuffix(".snap") {
            let parts = name.dropLast(5).split(separator: "-")
            guard parts.count == 3, parts[0].hasPrefix("g"), parts[1].hasPrefix("i"),
                  let group = GroupID(parts[0].dropFirst()), let index = LogIndex(parts[1].dropFirst()),
                  let current = groups[group]?.snapshot, index < current.index || (index == current.index && name != current.fileName)
            else { continue }
            superseded.append(name)
        }
        return superseded.sorted()
    }
}
