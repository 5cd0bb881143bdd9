/// The segment hand-off protocol (docs/migration.md): segments move from a source shard to a target
/// shard through both shards' journals. The source freezes them, the driver copies their records
/// page by page into the target's staging area, and the target's activation is the commit point;
/// the source then releases them. Before activation the driver may roll back (abort the import,
/// thaw the source). Every command is idempotent and every ended hand-off is remembered, so a
/// late or repeated command cannot freeze, stage or activate again.
extension MetadataOperation {
    /// Whether this is a hand-off protocol command (journaled with session 0, outside sessions).
    public var isHandoffProtocol: Bool {
        switch self {
        case .freezeSegments, .exportSegments, .thawSegments, .releaseSegments, .stageSegments, .activateSegments, .abortImport:
            true
        default:
            false
        }
    }
}

extension MetadataStateMachine {
    /// The hand-off this shard is the source of, if any.
    public var outgoingHandoff: OutgoingHandoff? { outgoing }

    /// The hand-offs this shard is staging as their target.
    public var incomingHandoffIDs: [HandoffID] { incoming.keys.sorted() }

    /// How hand-off `id` ended here, if it did.
    public func handoffOutcome(_ id: HandoffID) -> HandoffOutcome? { handoffOutcomes[id] }

    mutating func applyHandoffProtocol(_ operation: MetadataOperation) -> CommandResult {
        do throws(MetadataError) {
            switch operation {
            case let .freezeSegments(id, segments, target):
                return .success(.handoffFrozen(try freeze(id, segments: segments, target: target)))
            case let .exportSegments(id, after, budgetBytes):
                return .success(.exportPage(try exportPage(id, after: after, budgetBytes: Int(budgetBytes))))
            case let .thawSegments(id):
                try thaw(id)
            case let .releaseSegments(id, epoch):
                try release(id, epoch: epoch)
            case let .stageSegments(id, source, segments, pieces):
                try stage(id, source: source, segments: segments, pieces: pieces)
            case let .activateSegments(id, source, summary, epoch, migrationTimestamp):
                try activate(id, source: source, summary: summary, epoch: epoch, migrationTimestamp: migrationTimestamp)
            case let .abortImport(id):
                try abortImport(id)
            default:
                throw MetadataError(.internalInconsistency, "\(operation.name) is not a hand-off command")
            }
            return .success(.done)
        } catch {
            return .failure(error)
        }
    }

    /// Whether `segment` is frozen by an outgoing hand-off (the hot path pays one emptiness check).
    @inline(__always)
    func isFrozen(_ segment: SegmentID) -> Bool { !frozen.isEmpty && frozen.contains(segment) }

    // MARK: - Source

    private mutating func freeze(_ id: HandoffID, segments: [SegmentID], target: ShardID) throws(MetadataError) -> HandoffSummary {
        if let outcome = handoffOutcomes[id] { throw MetadataError(.transactionAborted, "hand-off \(id) already ended here (\(outcome))") }
        if let outgoing {
            guard outgoing.id == id else {
                throw MetadataError(.conflict, "shard \(config.shardID) is already handing off segments (hand-off \(outgoing.id)); retry after it ends")
            }
            return summary(of: outgoing)
        }
        let sorted = segments.sorted()
        guard !sorted.isEmpty, Set(sorted).count == sorted.count else {
            throw MetadataError(.einval, "hand-off \(id) needs distinct segments")
        }
        guard target != config.shardID else { throw MetadataError(.einval, "hand-off \(id) names this shard (\(target)) as its target") }
        for segment in sorted where !ownership.owns(segment) {
            throw MetadataError(.wrongShard, "shard \(config.shardID) does not own segment \(segment) (shard epoch \(ownership.epoch))")
        }
        let moving = Set(sorted)
        let records = inodes.keys.filter { moving.contains($0.segment) }.sorted()
        if let (record, holder) = locks.first(where: { moving.contains($0.key.segment) }) {
            throw MetadataError(.conflict, "inode \(record) is locked by \(holder); the hand-off waits for it to end")
        }
        if let orphan = records.first(where: { inodes[$0]?.isOrphan == true }) {
            throw MetadataError(.conflict, "inode \(orphan) is open and unlinked; its segment moves after its last close")
        }
        let handoff = OutgoingHandoff(id: id, target: target, segments: sorted, records: records)
        outgoing = handoff
        frozen = moving
        // Predictions are hints: dropping every pending potential entry is always safe, and keeps
        // reservations in moving segments from outliving the move.
        potentials.removeAll()
        return summary(of: handoff)
    }

    private func summary(of handoff: OutgoingHandoff) -> HandoffSummary {
        var entries: UInt64 = 0
        for record in handoff.records { entries += UInt64(inodes[record]?.entries.count ?? 0) }
        return HandoffSummary(
            counters: handoff.segments.map { SegmentCounter(segment: $0, next: nextCounter($0)) },
            records: UInt64(handoff.records.count), entries: entries)
    }

    /// The records of a frozen hand-off from `cursor` on, in pieces of at most about `budgetBytes`.
    public func exportPage(_ id: HandoffID, after cursor: SegmentExportCursor, budgetBytes: Int) throws(MetadataError) -> SegmentExportPage {
        guard let outgoing, outgoing.id == id else {
            throw MetadataError(.einval, "hand-off \(id) is not frozen on shard \(config.shardID)")
        }
        let budget = max(1024, budgetBytes)
        var used = 0
        var pieces: [SegmentRecordPiece] = []
        // First record at or after the cursor's.
        var low = 0, high = outgoing.records.count
        while low < high {
            let mid = (low + high) / 2
            if outgoing.records[mid] < cursor.id { low = mid + 1 } else { high = mid }
        }
        var index = low
        var afterName = index < outgoing.records.count && outgoing.records[index] == cursor.id ? cursor.afterName : nil
        while index < outgoing.records.count {
            let recordID = outgoing.records[index]
            guard let node = inodes[recordID] else {
                throw MetadataError(.internalInconsistency, "frozen record \(recordID) is missing")
            }
            var piece = SegmentRecordPiece(id: recordID, attributes: nil, parent: node.parent, symlinkTarget: nil, entries: [])
            if afterName == nil {
                piece.attributes = node.attributes
                piece.symlinkTarget = node.symlinkTarget
                used += 100 + (node.symlinkTarget?.byteCount ?? 0)
            }
            let names = node.entries.page(after: afterName, limit: Int.max)
            // "" (no entry has an empty name): the head went out, the entries start from the first.
            var last: ByteString = afterName ?? ""
            for (name, entry) in names {
                let cost = name.byteCount + 16
                let progressed = !pieces.isEmpty || !piece.entries.isEmpty || piece.attributes != nil
                if used + cost > budget && progressed {
                    if piece.attributes != nil || !piece.entries.isEmpty { pieces.append(piece) }
                    return SegmentExportPage(pieces: pieces, next: SegmentExportCursor(id: recordID, afterName: last))
                }
                piece.entries.append(.init(name: name, child: entry.child, type: entry.type))
                used += cost
                last = name
            }
            pieces.append(piece)
            index += 1
            afterName = nil
            if used >= budget, index < outgoing.records.count {
                return SegmentExportPage(pieces: pieces, next: SegmentExportCursor(id: outgoing.records[index], afterName: nil))
            }
        }
        return SegmentExportPage(pieces: pieces, next: nil)
    }

    private mutating func thaw(_ id: HandoffID) throws(MetadataError) {
        switch handoffOutcomes[id] {
        case .released?: throw MetadataError(.eexist, "hand-off \(id) was released to its target; it cannot be rolled back")
        case .thawed?: return
        default: break
        }
        if outgoing?.id == id {
            outgoing = nil
            frozen = []
        }
        handoffOutcomes[id] = .thawed
    }

    private mutating func release(_ id: HandoffID, epoch: Epoch) throws(MetadataError) {
        switch handoffOutcomes[id] {
        case .released?: return
        case .thawed?: throw MetadataError(.transactionAborted, "hand-off \(id) was rolled back here")
        default: break
        }
        guard let handoff = outgoing, handoff.id == id else {
            throw MetadataError(.einval, "hand-off \(id) is not frozen on shard \(config.shardID)")
        }
        for record in handoff.records { inodes.removeValue(forKey: record) }
        for segment in handoff.segments {
            segmentCounters.removeValue(forKey: segment)
            ownership.remove(segment)
        }
        if epoch > ownership.epoch { ownership.epoch = epoch }
        outgoing = nil
        frozen = []
        handoffOutcomes[id] = .released
    }

    // MARK: - Target

    private mutating func stage(_ id: HandoffID, source: ShardID, segments: [SegmentID], pieces: [SegmentRecordPiece]) throws(MetadataError) {
        switch handoffOutcomes[id] {
        case .activated?: return  // a late retry of a page already part of the activated state
        case .some(let outcome): throw MetadataError(.transactionAborted, "hand-off \(id) already ended here (\(outcome))")
        case nil: break
        }
        let handoff = try incomingHandoff(id, source: source, segments: segments)
        // Check every piece first: a refused page stages nothing.
        let moving = Set(handoff.segments)
        var directories: Set<InodeID> = []
        for piece in pieces {
            guard moving.contains(piece.id.segment) else {
                throw MetadataError(.einval, "hand-off \(id): record \(piece.id) is in segment \(piece.id.segment), not one of the hand-off's")
            }
            if let attributes = piece.attributes {
                guard attributes.id == piece.id else { throw MetadataError(.einval, "hand-off \(id): piece \(piece.id) carries attributes of \(attributes.id)") }
                if attributes.type == .directory { directories.insert(piece.id) }
            }
            guard !piece.entries.isEmpty else { continue }
            guard directories.contains(piece.id) || handoff.staged[piece.id]?.isDirectory == true else {
                throw MetadataError(.einval, "hand-off \(id): entries of \(piece.id) arrived before its head, or it is not a directory")
            }
            for entry in piece.entries {
                if let error = Validation.name(entry.name, limits: config.limits) { throw MetadataError(.einval, "hand-off \(id): \(error.message)") }
            }
        }
        // Taken out of the table while it grows, so that adding a page never copies the staging
        // (nor a large directory's entries).
        var staging = incoming.removeValue(forKey: id) ?? handoff
        defer { incoming[id] = staging }
        for piece in pieces {
            guard var record = staging.staged.removeValue(forKey: piece.id)
                ?? piece.attributes.map({ Inode(attributes: $0, parent: piece.parent, entries: DirectoryEntries(), symlinkTarget: nil) })
            else { continue }
            if let attributes = piece.attributes {
                record.attributes = attributes
                record.parent = piece.parent
                record.symlinkTarget = piece.symlinkTarget
            }
            for entry in piece.entries { record.entries.set(entry.name, to: entry.child, type: entry.type) }
            staging.staged[piece.id] = record
        }
    }

    private func incomingHandoff(_ id: HandoffID, source: ShardID, segments: [SegmentID]) throws(MetadataError) -> IncomingHandoff {
        let sorted = segments.sorted()
        if let existing = incoming[id] {
            guard existing.source == source, existing.segments == sorted else {
                throw MetadataError(.einval, "hand-off \(id) is staging segments of shard \(existing.source), not these")
            }
            return existing
        }
        guard !sorted.isEmpty, Set(sorted).count == sorted.count, sorted.allSatisfy({ Int($0) < config.keying.segmentCount }) else {
            throw MetadataError(.einval, "hand-off \(id) needs distinct segments below \(config.keying.segmentCount)")
        }
        guard source != config.shardID else { throw MetadataError(.einval, "hand-off \(id) names this shard as its source") }
        for segment in sorted where ownership.owns(segment) {
            throw MetadataError(.einval, "shard \(config.shardID) already owns segment \(segment)")
        }
        return IncomingHandoff(id: id, source: source, segments: sorted)
    }

    private mutating func activate(
        _ id: HandoffID, source: ShardID, summary: HandoffSummary, epoch: Epoch, migrationTimestamp: UInt64
    ) throws(MetadataError) {
        switch handoffOutcomes[id] {
        case .activated?: return
        case .some(let outcome): throw MetadataError(.transactionAborted, "hand-off \(id) already ended here (\(outcome))")
        case nil: break
        }
        let handoff = try incomingHandoff(id, source: source, segments: summary.counters.map(\.segment))
        let entries = handoff.staged.values.reduce(UInt64(0)) { $0 + UInt64($1.entries.count) }
        guard UInt64(handoff.staged.count) == summary.records, entries == summary.entries else {
            throw MetadataError(.einval, "hand-off \(id) staged \(handoff.staged.count) records and \(entries) entries, the source froze \(summary.records) and \(summary.entries); stage the rest first")
        }
        for record in handoff.staged.keys where inodes[record] != nil {
            throw MetadataError(.internalInconsistency, "hand-off \(id): record \(record) already exists on shard \(config.shardID)")
        }
        for counter in summary.counters {
            ownership.insert(counter.segment)
            segmentCounters[counter.segment] = max(counter.next, segmentCounters[counter.segment] ?? 1)
        }
        for (record, node) in handoff.staged { inodes[record] = node }
        if epoch > ownership.epoch { ownership.epoch = epoch }
        if migrationTimestamp > self.migrationTimestamp { self.migrationTimestamp = migrationTimestamp }
        incoming.removeValue(forKey: id)
        handoffOutcomes[id] = .activated
    }

    private mutating func abortImport(_ id: HandoffID) throws(MetadataError) {
        switch handoffOutcomes[id] {
        case .activated?: throw MetadataError(.eexist, "hand-off \(id) was activated here (committed); roll it forward")
        case .aborted?: return
        default: break
        }
        incoming.removeValue(forKey: id)
        handoffOutcomes[id] = .aborted
    }
}
