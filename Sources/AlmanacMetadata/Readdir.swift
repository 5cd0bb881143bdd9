/// A position in a directory listing: "entries whose names sort after `after`".
///
/// Name-ordered cursors are stable: entries that exist for the whole listing are returned
/// exactly once, whatever is inserted or removed meanwhile; entries added or removed during the
/// listing may or may not appear. `.` and `..` are not listed (clients synthesize them).
public struct ReaddirCursor: Hashable, Sendable {
    public var after: ByteString
    public init(after: ByteString) { self.after = after }
}

/// One directory entry as `readdir` lists it.
public struct DirectoryEntry: Hashable, Sendable {
    public var name: ByteString
    public var id: InodeID
    public var type: FileType

    public init(name: ByteString, id: InodeID, type: FileType) {
        self.name = name
        self.id = id
        self.type = type
    }
}

/// One page of a listing.
public struct ReaddirPage: Hashable, Sendable {
    /// Entries in byte order of their names.
    public var entries: [DirectoryEntry]
    /// Where the next page starts; nil when the listing is complete.
    public var nextCursor: ReaddirCursor?
    /// The directory's version when this page was read.
    public var directoryVersion: UInt64
}
