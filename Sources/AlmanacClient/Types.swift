import AlmanacWire
import Foundation

/// Attributes of an inode as the server reports them.
public typealias FileAttributes = Almanac_Api_V1_InodeAttributes
/// One directory entry.
public typealias DirectoryEntry = Almanac_Api_V1_DirEntry
/// Cluster status (nodes, zones, shards).
public typealias ClusterStatus = Almanac_Api_V1_ClusterStatus
/// File types.
public typealias FileKind = Almanac_Api_V1_FileType

/// The root directory's inode id.
public let rootInode: UInt64 = 1

/// The segment an inode id belongs to: its high 16 bits (the shard map says which shard owns it).
public func segment(ofInode inode: UInt64) -> UInt16 { UInt16(truncatingIfNeeded: inode >> 48) }

/// An open file handle. Close it with ``AlmanacClient/close(_:)``.
public struct OpenFile: Sendable, Hashable {
    public var handle: UInt64
    public var attributes: FileAttributes
    public var created: Bool
    /// The shard (and session) the handle belongs to.
    public var shard: UInt16
}

/// One page of a directory listing.
public struct DirectoryPage: Sendable, Hashable {
    public var entries: [DirectoryEntry]
    /// Pass back to continue; nil when the listing is complete.
    public var nextCursor: Data?
}

/// Flags of ``AlmanacClient/open(parent:name:flags:mode:uid:gid:)``.
public struct OpenOptions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let read = OpenOptions(rawValue: 1)
    public static let write = OpenOptions(rawValue: 2)
    public static let truncate = OpenOptions(rawValue: 4)
    public static let append = OpenOptions(rawValue: 8)
    public static let create = OpenOptions(rawValue: 16)
    public static let exclusive = OpenOptions(rawValue: 32)
}

/// Attribute changes for ``AlmanacClient/setattr(_:_:)``; nil fields stay unchanged.
public struct AttributeChanges: Sendable, Hashable {
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public var size: UInt64?
    /// Nanoseconds since the epoch; see also `atimeNow`/`mtimeNow`.
    public var atimeNanoseconds: Int64?
    public var mtimeNanoseconds: Int64?
    public var atimeNow = false
    public var mtimeNow = false

    public init(
        mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, size: UInt64? = nil,
        atimeNanoseconds: Int64? = nil, mtimeNanoseconds: Int64? = nil, atimeNow: Bool = false, mtimeNow: Bool = false
    ) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.atimeNanoseconds = atimeNanoseconds
        self.mtimeNanoseconds = mtimeNanoseconds
        self.atimeNow = atimeNow
        self.mtimeNow = mtimeNow
    }

    var request: Almanac_Api_V1_SetattrRequest {
        var s = Almanac_Api_V1_SetattrRequest()
        var mask: UInt32 = 0
        if let mode { mask |= 1; s.mode = mode }
        if let uid { mask |= 2; s.uid = uid }
        if let gid { mask |= 4; s.gid = gid }
        if let size { mask |= 8; s.size = size }
        if let atimeNanoseconds { mask |= 16; s.atimeNs = atimeNanoseconds }
        if let mtimeNanoseconds { mask |= 32; s.mtimeNs = mtimeNanoseconds }
        if atimeNow { mask |= 64 }
        if mtimeNow { mask |= 128 }
        s.mask = mask
        return s
    }
}
