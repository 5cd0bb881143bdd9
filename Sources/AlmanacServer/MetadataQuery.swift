import AlmanacMetadata

/// A read-only namespace query (not journaled).
public enum MetadataQuery: Sendable, Hashable {
    case getattr(InodeID)
    case lookup(parent: InodeID, name: ByteString)
    /// One page of `directory` after `cursor`; with `withAttributes` each entry's attributes too.
    case readdir(InodeID, after: ReaddirCursor?, limit: Int, withAttributes: Bool)
    case readlink(InodeID)

    /// Answers the query from a state machine. Pure: the backend calls it on the replica chosen by
    /// the read's consistency (the leader after ReadIndex, or any replica for stale reads).
    public func evaluate(on state: MetadataStateMachine) -> Result<QueryResult, MetadataError> {
        do throws(MetadataError) {
            switch self {
            case .getattr(let id):
                return .success(.attributes(try state.getattr(id)))
            case .lookup(let parent, let name):
                return .success(.attributes(try state.lookup(parent: parent, name: name)))
            case .readdir(let directory, let cursor, let limit, let withAttributes):
                let page = try state.readdir(directory, after: cursor, limit: limit)
                var attributes: [InodeAttributes]?
                if withAttributes {
                    var all: [InodeAttributes] = []
                    all.reserveCapacity(page.entries.count)
                    for entry in page.entries { all.append(try state.getattr(entry.id)) }
                    attributes = all
                }
                return .success(.page(page, attributes: attributes))
            case .readlink(let id):
                return .success(.symlinkTarget(try state.readlink(id)))
            }
        } catch {
            return .failure(error)
        }
    }
}

/// What a successful ``MetadataQuery`` returns.
public enum QueryResult: Sendable, Hashable {
    case attributes(InodeAttributes)
    /// A readdir page; `attributes` (same order as the entries) when requested.
    case page(ReaddirPage, attributes: [InodeAttributes]?)
    case symlinkTarget(ByteString)
}
