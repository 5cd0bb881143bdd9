/// One inode as the state machine stores it.
struct Inode: Hashable, Sendable {
    var attributes: InodeAttributes
    /// For a directory: its parent (the root is its own parent). `InodeID(0)` otherwise.
    var parent: InodeID
    /// For a directory: its entries. Empty otherwise.
    var entries: DirectoryEntries
    /// For a symlink: its target.
    var symlinkTarget: ByteString?

    var id: InodeID { attributes.id }
    var type: FileType { attributes.type }
    var isDirectory: Bool { attributes.type == .directory }
    /// A directory that was removed, or a file whose last link went, kept only while open.
    var isOrphan: Bool { attributes.nlink == 0 }

    /// Records a change: bumps the version and sets ctime.
    mutating func touchChange(_ now: Timestamp) {
        attributes.ctime = now
        attributes.version &+= 1
    }

    /// Records a content change (entries of a directory, data of a file): mtime and ctime.
    mutating func touchModify(_ now: Timestamp) {
        attributes.mtime = now
        touchChange(now)
    }
}
