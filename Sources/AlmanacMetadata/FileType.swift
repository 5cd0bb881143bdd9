/// The kind of an inode.
public enum FileType: UInt8, Sendable, Hashable, CaseIterable {
    case regular = 1
    case directory = 2
    case symlink = 3

    /// The `S_IFMT` bits of this type, as they appear in a full `st_mode`.
    public var typeBits: UInt32 {
        switch self {
        case .regular: 0o100000
        case .directory: 0o040000
        case .symlink: 0o120000
        }
    }

    /// Mask of the file-type bits in a mode.
    public static let typeMask: UInt32 = 0o170000
    /// Mask of the permission bits (incl. setuid, setgid, sticky).
    public static let permissionMask: UInt32 = 0o7777
}

/// The attributes of an inode, as `getattr` returns them.
public struct InodeAttributes: Hashable, Sendable {
    public var id: InodeID
    public var type: FileType
    /// Permission bits only (`mode & 0o7777`); the type is in ``type``.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// Bytes; for a symlink the target's length; for a directory 0.
    public var size: UInt64
    /// Hard-link count; for a directory 2 + number of subdirectories; 0 for an open unlinked inode.
    public var nlink: UInt32
    public var atime: Timestamp
    public var mtime: Timestamp
    public var ctime: Timestamp
    /// Incremented on every change to the inode (attributes, or entries of a directory).
    public var version: UInt64

    public init(
        id: InodeID, type: FileType, mode: UInt32, uid: UInt32, gid: UInt32, size: UInt64,
        nlink: UInt32, atime: Timestamp, mtime: Timestamp, ctime: Timestamp, version: UInt64
    ) {
        self.id = id
        self.type = type
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.nlink = nlink
        self.atime = atime
        self.mtime = mtime
        self.ctime = ctime
        self.version = version
    }

    /// The full `st_mode`: type bits plus permission bits.
    public var fullMode: UInt32 { type.typeBits | mode }
}
