/// Identifier of a cross-shard transaction: the coordinating (primary) shard and a number the
/// coordinator chose at random (64 bits: collisions are not a practical concern, and a collision
/// is caught at prepare, where an id that is already prepared is refused).
public struct TransactionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The shard whose journal holds the decision (the commit point).
    public var coordinator: ShardID
    public var number: UInt64

    public init(coordinator: ShardID, number: UInt64) {
        self.coordinator = coordinator
        self.number = number
    }

    public static func < (lhs: TransactionID, rhs: TransactionID) -> Bool {
        (lhs.coordinator, lhs.number) < (rhs.coordinator, rhs.number)
    }

    public var description: String { "txn \(coordinator):\(String(number, radix: 16))" }
}

/// One mutation of a cross-shard transaction, applied by the shard owning the records it names.
///
/// Prepare checks every step's precondition against the current state and locks the records the
/// step touches; commit applies the steps in order; abort only releases the locks. A prepared step
/// can therefore never fail at commit. See docs/sharding.md for the protocol.
public enum TransactionStep: Hashable, Sendable {
    /// Adds the entry `name` -> `child` (of `type`) to `directory`; the name must be free. A
    /// subdirectory adds one to the directory's nlink.
    case addEntry(directory: InodeID, name: ByteString, child: InodeID, type: FileType)
    /// Removes the entry `name` of `directory`, which must name `child`.
    case removeEntry(directory: InodeID, name: ByteString, child: InodeID)
    /// Makes the entry `name` of `directory` (which must name `old`) name `new` instead.
    case replaceEntry(directory: InodeID, name: ByteString, old: InodeID, new: InodeID, newType: FileType)
    /// Creates a directory in `segment` (owned here) whose parent is `parent`. Its id is allocated
    /// at prepare and reported in the prepare's result.
    case createDirectory(segment: SegmentID, parent: InodeID, mode: UInt32, uid: UInt32, gid: UInt32)
    /// Adds `delta` to the link count of the non-directory `inode`; at 0 links it is deleted (or
    /// kept as an orphan while open).
    case adjustLinks(inode: InodeID, delta: Int32)
    /// Removes the directory `directory`, which must be empty.
    case removeDirectory(directory: InodeID)
    /// Makes `parent` the parent of directory `directory`.
    case reparent(directory: InodeID, parent: InodeID)
    /// Changes nothing; requires that `parent` is the parent of directory `directory` and locks it
    /// until the transaction ends. A rename that moves a directory asserts every ancestor of its
    /// destination, so no concurrent rename can make the destination a descendant of the moved
    /// directory between the coordinator's check and the commit.
    case assertParent(directory: InodeID, parent: InodeID)

    /// The records the step reads or changes (locked from prepare to commit or abort).
    var touched: [InodeID] {
        switch self {
        case .addEntry(let directory, _, _, _), .removeEntry(let directory, _, _), .replaceEntry(let directory, _, _, _, _):
            return [directory]
        case .createDirectory: return []
        case .adjustLinks(let inode, _): return [inode]
        case .removeDirectory(let directory), .reparent(let directory, _), .assertParent(let directory, _): return [directory]
        }
    }
}

/// A transaction prepared on this shard: its steps, with directory ids allocated at prepare.
struct PreparedTransaction: Hashable, Sendable {
    var id: TransactionID
    var steps: [TransactionStep]
    /// Ids allocated for the `createDirectory` steps, in step order.
    var allocated: [InodeID]
    /// Command time of the prepare (recovery resolves transactions in doubt for too long).
    var preparedAt: Timestamp
}

/// The coordinator shard's record of a decision.
public enum TransactionDecision: UInt8, Hashable, Sendable {
    case committed = 1
    case aborted = 2
}
