import AlmanacMetadata

/// A read-only namespace query (not journaled).
public enum MetadataQuery: Sendable, Hashable {
    case getattr(InodeID)
    case lookup(parent: InodeID, name: ByteString)
    /// One page of `directory` after `cursor`; with `withAttributes` each entry's attributes too.
    case readdir(InodeID, after: ReaddirCursor?, limit: Int, withAttributes: Bool)
    case readlink(InodeID)
    /// A page of a frozen hand-off's records (the driver's copy; a leader read, not journaled: the
    /// frozen segments cannot change, so a linearizable read after the freeze sees them as frozen).
    case exportSegments(HandoffID, after: SegmentExportCursor, budgetBytes: UInt32)

    /// Answers the query from a state machine. Pure: the backend calls it on the replica chosen by
    /// the read's consistency (the leader after ReadIndex, or any replica for stale reads).
    public func evaluate(on state: MetadataStateMachine) -> Result<QueryResult, MetadataError> {
        do throws(MetadataError) {
            switch self {
            case .getattr(let id):
                let attributes = try state.getattr(id)
                if let parent = state.directoryParent(id) { return .success(.directory(attributes, parent: parent)) }
                return .success(.attributes(attributes))
            case .lookup(let parent, let name):
                let found = try state.lookupEntry(parent: parent, name: name)
                guard let attributes = found.attributes else { return .success(.remoteEntry(found.id, found.type)) }
                return .success(.attributes(attributes))
            case .readdir(let directory, let cursor, let limit, let withAttributes):
                let page = try state.readdir(directory, after: cursor, limit: limit)
                var attributes: [InodeAttributes?]?
                if withAttributes {
                    // Children whose record lives on another shard (subdirectories, usually) have none.
                    attributes = page.entries.map { state.localAttributes($0.id) }
                }
                return .success(.page(page, attributes: attributes))
            case .readlink(let id):
                return .success(.symlinkTarget(try state.readlink(id)))
            case let .exportSegments(id, after, budgetBytes):
                return .success(.exportPage(try state.exportPage(id, after: after, budgetBytes: Int(budgetBytes))))
            }
        } catch {
            return .failure(error)
        }
    }
}

/// What a successful ``MetadataQuery`` returns.
public enum QueryResult: Sendable, Hashable {
    case attributes(InodeAttributes)
    /// getattr of a directory: its attributes and its parent (cross-shard renames check ancestry).
    case directory(InodeAttributes, parent: InodeID)
    /// lookup of an entry whose record lives on another shard: its id and type only.
    case remoteEntry(InodeID, FileType)
    /// A readdir page; `attributes` (same order as the entries; nil for a child whose record lives on
    /// another shard) when requested.
    case page(ReaddirPage, attributes: [InodeAttributes?]?)
    case symlinkTarget(ByteString)
    case exportPage(SegmentExportPage)
}
