/// Identifies one hand-off of segments from a source shard to a target shard (split, merge or
/// rebalance; docs/migration.md). The driver takes it from the shard map epoch that recorded the
/// intent, so ids are unique across the cluster's life.
public typealias HandoffID = UInt64

/// One piece of a record moving between shards: a record's head (attributes, parent, symlink
/// target) and/or a run of its directory entries. A large directory travels as several pieces,
/// each small enough for one journal entry.
public struct SegmentRecordPiece: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var name: ByteString
        public var child: InodeID
        public var type: FileType

        public init(name: ByteString, child: InodeID, type: FileType) {
            self.name = name
            self.child = child
            self.type = type
        }
    }

    /// The record's id (its segment is one of the hand-off's).
    public var id: InodeID
    /// The head: present in a record's first piece only.
    public var attributes: InodeAttributes?
    /// A directory's parent (with the head).
    public var parent: InodeID
    /// A symlink's target (with the head).
    public var symlinkTarget: ByteString?
    /// Directory entries, ascending by name, continuing the previous piece's.
    public var entries: [Entry]

    public init(id: InodeID, attributes: InodeAttributes?, parent: InodeID, symlinkTarget: ByteString?, entries: [Entry]) {
        self.id = id
        self.attributes = attributes
        self.parent = parent
        self.symlinkTarget = symlinkTarget
        self.entries = entries
    }
}

/// Where an export continues: after record `id`'s entry `afterName` (nil: with the head of `id`).
public struct SegmentExportCursor: Hashable, Sendable {
    public var id: InodeID
    public var afterName: ByteString?

    public init(id: InodeID, afterName: ByteString?) {
        self.id = id
        self.afterName = afterName
    }

    /// The start of an export.
    public static let start = SegmentExportCursor(id: InodeID(0), afterName: nil)
}

/// A page of an export: pieces in order, and where the next page starts (nil: the export is done).
public struct SegmentExportPage: Hashable, Sendable {
    public var pieces: [SegmentRecordPiece]
    public var next: SegmentExportCursor?

    public init(pieces: [SegmentRecordPiece], next: SegmentExportCursor?) {
        self.pieces = pieces
        self.next = next
    }
}

/// The source side of a hand-off in progress: its segments are frozen (writes and reads touching
/// them answer `CONFLICT`, retry) until the hand-off is released (moved) or thawed (rolled back).
public struct OutgoingHandoff: Equatable, Sendable {
    public var id: HandoffID
    public var target: ShardID
    /// Ascending.
    public var segments: [SegmentID]
    /// The frozen records' ids, ascending (derived: rebuilt on restore; export pages seek in it).
    var records: [InodeID] = []
}

/// The target side of a hand-off in progress: pieces staged, invisible and unowned, until the
/// hand-off is activated (the commit point) or aborted.
public struct IncomingHandoff: Equatable, Sendable {
    public var id: HandoffID
    public var source: ShardID
    public var segments: [SegmentID]
    /// Staged records by id. Staging a piece twice (a retried page) sets the same head and the
    /// same entries again: idempotent.
    var staged: [InodeID: Inode] = [:]
}

/// What a freeze reports: the frozen segments' allocation counters and how many records and
/// directory entries they hold (the target checks its staging against these before activating).
public struct HandoffSummary: Hashable, Sendable {
    public var counters: [SegmentCounter]
    public var records: UInt64
    public var entries: UInt64

    public init(counters: [SegmentCounter], records: UInt64, entries: UInt64) {
        self.counters = counters
        self.records = records
        self.entries = entries
    }
}

/// The next inode counter of a segment.
public struct SegmentCounter: Hashable, Sendable {
    public var segment: SegmentID
    public var next: UInt64

    public init(segment: SegmentID, next: UInt64) {
        self.segment = segment
        self.next = next
    }
}

/// How a hand-off ended on a shard. Remembered so that a late or repeated command of an ended
/// hand-off is refused (a delayed freeze after a rollback must not freeze segments again).
public enum HandoffOutcome: UInt8, Hashable, Sendable {
    /// Target: the segments were activated here (the commit point).
    case activated = 1
    /// Target: the import was aborted.
    case aborted = 2
    /// Source: the segments were released to the target.
    case released = 3
    /// Source: the freeze was rolled back.
    case thawed = 4
}
