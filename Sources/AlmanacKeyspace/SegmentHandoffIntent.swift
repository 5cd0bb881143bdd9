/// A segment hand-off in progress, recorded in the shard map before anything moves (the first step
/// of the protocol in docs/migration.md) and removed when it ended. Whoever drives or resumes the
/// hand-off reads it from the map store: a `preparing` hand-off is rolled back (or forward, if its
/// target already activated it), a `committed` one is finished.
public struct SegmentHandoffIntent: Sendable, Hashable, Codable {
    public enum Phase: String, Sendable, Hashable, Codable {
        /// Recorded; the source may be frozen and the target staging. Nothing is decided.
        case preparing
        /// The target activated the segments and the map names it as their owner; the source's
        /// copy is still to be released.
        case committed
    }

    /// The hand-off id: the map epoch that recorded the intent (unique for the cluster's life).
    public var id: UInt64
    /// The moving segments, ascending.
    public var segments: [SegmentID]
    public var source: ShardID
    public var target: ShardID
    public var phase: Phase
    /// Wall-clock milliseconds when the intent was recorded: the `migration_timestamp` the target's
    /// journal carries from its activation on.
    public var migrationTimestamp: UInt64

    public init(id: UInt64, segments: [SegmentID], source: ShardID, target: ShardID, phase: Phase, migrationTimestamp: UInt64) {
        self.id = id
        self.segments = segments.sorted()
        self.source = source
        self.target = target
        self.phase = phase
        self.migrationTimestamp = migrationTimestamp
    }
}

extension ShardMap {
    /// Records `intent` (phase `preparing`). Refused if a hand-off already involves its source or
    /// target, or if the source does not own every segment.
    public mutating func recordHandoff(_ intent: SegmentHandoffIntent) throws(KeyspaceError) {
        guard shards[intent.target] != nil else { throw KeyspaceError.invalid("shard \(intent.target) does not exist") }
        guard intent.source != intent.target else { throw KeyspaceError.invalid("segments already belong to shard \(intent.target)") }
        guard !intent.segments.isEmpty, Set(intent.segments).count == intent.segments.count else {
            throw KeyspaceError.invalid("a hand-off needs distinct segments")
        }
        for segment in intent.segments {
            guard let owner = shard(ofSegment: segment) else { throw KeyspaceError.invalid("segment \(segment) does not exist") }
            guard owner == intent.source else {
                throw KeyspaceError.invalid("segment \(segment) belongs to shard \(owner), not to shard \(intent.source)")
            }
        }
        if let busy = handoffs.first(where: { [$0.source, $0.target].contains(intent.source) || [$0.source, $0.target].contains(intent.target) }) {
            throw KeyspaceError.invalid("hand-off \(busy.id) (shard \(busy.source) -> \(busy.target)) is still in progress")
        }
        if let busy = migrations.first(where: { $0.shard == intent.source || $0.shard == intent.target }) {
            throw KeyspaceError.invalid("shard \(busy.shard) is migrating a replica (migration \(busy.id)); hand its segments over after it")
        }
        handoffs.append(intent)
        bumpEpoch()
    }

    /// The commit of hand-off `id`: its segments now belong to its target; the intent stays,
    /// `committed`, until the source released them.
    public mutating func commitHandoff(_ id: UInt64) throws(KeyspaceError) {
        guard let index = handoffs.firstIndex(where: { $0.id == id }) else { throw KeyspaceError.invalid("no hand-off \(id) in the map") }
        guard handoffs[index].phase == .preparing else { return }
        let intent = handoffs[index]
        try assign(intent.segments, to: intent.target)
        stampMigration(intent.migrationTimestamp, on: [intent.source, intent.target])
        handoffs[index].phase = .committed
    }

    /// Removes the intent of hand-off `id` (no-op if absent).
    public mutating func clearHandoff(_ id: UInt64) {
        guard let index = handoffs.firstIndex(where: { $0.id == id }) else { return }
        handoffs.remove(at: index)
        bumpEpoch()
    }

    /// The intent of hand-off `id`.
    public func handoff(_ id: UInt64) -> SegmentHandoffIntent? { handoffs.first { $0.id == id } }
}
