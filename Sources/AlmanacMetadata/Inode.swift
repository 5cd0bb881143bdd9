/// One inode as the state machine stores it.
///
/// A file's record is its attributes and one empty array reference (80 bytes); what only some
/// inodes have (a directory's parent and entries, a symlink's target) lives in ``Links``, out of
/// line: in a namespace of mostly files the inode table's slots stay small (issue 17's memory goal).
struct Inode: Hashable, Sendable {
    var attributes: InodeAttributes
    /// The out-of-line part: empty for a regular file, one element otherwise (an array is a
    /// copy-on-write box that needs no class).
    private var links: [Links]

    /// What directories and symlinks have beyond their attributes.
    struct Links: Hashable, Sendable {
        var parent = InodeID(0)
        var entries = DirectoryEntries()
        var symlinkTarget: ByteString?
    }

    init(attributes: InodeAttributes, parent: InodeID, entries: DirectoryEntries, symlinkTarget: ByteString?) {
        self.attributes = attributes
        let links = Links(parent: parent, entries: entries, symlinkTarget: symlinkTarget)
        self.links = links == Links() ? [] : [links]
    }

    /// For a directory: its parent (the root is its own parent). `InodeID(0)` otherwise.
    var parent: InodeID {
        get { links.first?.parent ?? InodeID(0) }
        set {
            if links.isEmpty {
                guard newValue != InodeID(0) else { return }
                links = [Links()]
            }
            links[0].parent = newValue
        }
    }

    /// For a directory: its entries. Empty otherwise.
    var entries: DirectoryEntries {
        get { links.first?.entries ?? DirectoryEntries() }
        set {
            if links.isEmpty { links = [Links()] }
            links[0].entries = newValue
        }
        _modify {
            if links.isEmpty { links = [Links()] }
            yield &links[0].entries
        }
    }

    /// For a symlink: its target.
    var symlinkTarget: ByteString? {
        get { links.first?.symlinkTarget }
        set {
            if links.isEmpty {
                guard newValue != nil else { return }
                links = [Links()]
            }
            links[0].symlinkTarget = newValue
        }
    }

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
