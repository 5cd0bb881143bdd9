/// Read-only queries. They are not journaled and change nothing (no atime updates: the
/// namespace behaves as if mounted `noatime`; `setattr` sets atime explicitly).
extension MetadataStateMachine {
    /// The attributes of inode `id` (an open, unlinked inode included).
    public func getattr(_ id: InodeID) throws(MetadataError) -> InodeAttributes {
        try existingInode(id, "target").attributes
    }

    /// The attributes of the entry `name` in directory `parent` (`CROSS_SHARD` if the child's record
    /// lives on another shard: see ``lookupEntry(parent:name:)``).
    public func lookup(parent: InodeID, name: ByteString) throws(MetadataError) -> InodeAttributes {
        let found = try lookupEntry(parent: parent, name: name)
        guard let attributes = found.attributes else {
            throw MetadataError(.crossShard, "\"\(name)\" is inode \(found.id), whose record lives on another shard")
        }
        return attributes
    }

    /// The entry `name` in directory `parent`: the child's id and type, and its attributes when the
    /// child's record lives on this shard (a subdirectory's usually does not: ask its shard).
    public func lookupEntry(parent: InodeID, name: ByteString) throws(MetadataError) -> EntryLookup {
        try checkName(name)
        _ = try liveDirectory(parent, "parent")
        guard let id = entry(parent, name), let type = entryType(parent, name) else {
            throw MetadataError(.enoent, "\"\(name)\" does not exist in \(parent)")
        }
        guard isLocal(id) else { return EntryLookup(id: id, type: type, attributes: nil) }
        try checkUnlocked(id, "entry")
        return EntryLookup(id: id, type: type, attributes: try child(id).attributes)
    }

    /// Up to `limit` entries of `directory` after `cursor` (from the start if nil).
    public func readdir(
        _ directory: InodeID, after cursor: ReaddirCursor? = nil, limit: Int
    ) throws(MetadataError) -> ReaddirPage {
        if limit < 1 || limit > config.limits.maxReaddirPage {
            throw MetadataError(.einval, "readdir limit \(limit) is outside 1...\(config.limits.maxReaddirPage)")
        }
        if let cursor, let error = Validation.name(cursor.after, limits: config.limits) {
            throw MetadataError(.einval, "bad readdir cursor: \(error.message)")
        }
        _ = try liveDirectory(directory, "directory", allowOrphan: true)
        let node = try existingInode(directory, "directory")
        let names = node.entries.page(after: cursor?.after, limit: limit)
        var entries: [DirectoryEntry] = []
        entries.reserveCapacity(names.count)
        for (name, entry) in names {
            entries.append(DirectoryEntry(name: name, id: entry.child, type: entry.type))
        }
        var next: ReaddirCursor?
        if let last = entries.last, node.entries.hasEntries(after: last.name) { next = ReaddirCursor(after: last.name) }
        return ReaddirPage(entries: entries, nextCursor: next, directoryVersion: node.attributes.version)
    }

    /// The target of symlink `id`.
    public func readlink(_ id: InodeID) throws(MetadataError) -> ByteString {
        let node = try existingInode(id, "target")
        guard node.type == .symlink, let target = node.symlinkTarget else {
            throw MetadataError(.einval, "inode \(id) is not a symlink")
        }
        return target
    }

    /// The parent of directory `id` (the root is its own), if `id` is a directory of this shard.
    public func directoryParent(_ id: InodeID) -> InodeID? {
        guard isLocal(id), let node = inodes[id], node.isDirectory else { return nil }
        return node.parent
    }

    /// The attributes of `id` if its record lives on this shard (nil otherwise).
    public func localAttributes(_ id: InodeID) -> InodeAttributes? { isLocal(id) ? inodes[id]?.attributes : nil }

    /// Resolves an absolute path ("/a/b") component by component, without following symlinks.
    /// A convenience for tools and tests; clients resolve paths with `lookup`.
    public func resolve(path: String) throws(MetadataError) -> InodeAttributes {
        guard path.utf8.first == 0x2F else { throw MetadataError(.einval, "path \"\(path)\" is not absolute") }
        var current = try getattr(.root)
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            current = try lookup(parent: current.id, name: ByteString(String(component)))
        }
        return current
    }
}

/// What ``MetadataStateMachine/lookupEntry(parent:name:)`` found.
public struct EntryLookup: Hashable, Sendable {
    public var id: InodeID
    public var type: FileType
    /// Nil when the child's record lives on another shard.
    public var attributes: InodeAttributes?
}
