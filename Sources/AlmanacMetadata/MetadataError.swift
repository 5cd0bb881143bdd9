/// The error codes a metadata operation can return.
///
/// POSIX codes carry their Linux errno value; Almanac-specific codes (sessions, sharding,
/// journal) are numbered from 1000 so they never collide with an errno.
public enum ErrorCode: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Operation not permitted (e.g. a hard link to a directory).
    case eperm = 1
    /// No such file or directory, or an unknown inode id.
    case enoent = 2
    /// Bad file handle.
    case ebadf = 9
    /// File exists.
    case eexist = 17
    /// Cross-shard operation (rename or link across journal shards) refused.
    case exdev = 18
    /// Not a directory.
    case enotdir = 20
    /// Is a directory.
    case eisdir = 21
    /// Invalid argument.
    case einval = 22
    /// File too large.
    case efbig = 27
    /// No space: the shard's inode id range is exhausted.
    case enospc = 28
    /// Too many links.
    case emlink = 31
    /// Name (or symlink target) too long.
    case enametoolong = 36
    /// Directory not empty.
    case enotempty = 39
    /// Too many levels of symbolic links: `open` does not follow symlinks.
    case eloop = 40
    /// Request too large.
    case emsgsize = 90

    /// The inode id or envelope belongs to another shard; the caller should re-route.
    case wrongShard = 1001
    /// The session id is not registered (never was, or it expired and was reclaimed).
    case unknownSession = 1002
    /// The session expired; the client must register a new one.
    case sessionExpired = 1003
    /// The sequence number is older than the session's retained window; its result is gone.
    case staleSequence = 1004
    /// The log index was already applied; nothing happened.
    case alreadyApplied = 1005
    /// The journal entry could not be decoded.
    case badEntry = 1006
    /// The state violates an internal invariant (should never happen; reported, not crashed on).
    case internalInconsistency = 1007
    /// The operation touches records of segments this shard does not own: the server runs it as a
    /// cross-shard transaction. Never recorded in a session and never returned to clients.
    case crossShard = 1008
    /// A record the operation needs is locked by a cross-shard transaction in progress; nothing
    /// happened and the same request may be retried (not recorded in the session).
    case conflict = 1009
    /// The cross-shard transaction was aborted (by recovery, or a participant refused it).
    case transactionAborted = 1010

    /// The POSIX-style name, e.g. `ENOENT`.
    public var description: String {
        switch self {
        case .eperm: "EPERM"
        case .enoent: "ENOENT"
        case .ebadf: "EBADF"
        case .eexist: "EEXIST"
        case .exdev: "EXDEV"
        case .enotdir: "ENOTDIR"
        case .eisdir: "EISDIR"
        case .einval: "EINVAL"
        case .efbig: "EFBIG"
        case .enospc: "ENOSPC"
        case .emlink: "EMLINK"
        case .enametoolong: "ENAMETOOLONG"
        case .enotempty: "ENOTEMPTY"
        case .eloop: "ELOOP"
        case .emsgsize: "EMSGSIZE"
        case .wrongShard: "WRONG_SHARD"
        case .unknownSession: "UNKNOWN_SESSION"
        case .sessionExpired: "SESSION_EXPIRED"
        case .staleSequence: "STALE_SEQUENCE"
        case .alreadyApplied: "ALREADY_APPLIED"
        case .badEntry: "BAD_ENTRY"
        case .internalInconsistency: "INTERNAL_INCONSISTENCY"
        case .crossShard: "CROSS_SHARD"
        case .conflict: "CONFLICT"
        case .transactionAborted: "TRANSACTION_ABORTED"
        }
    }
}

/// A typed metadata error: a code plus a human-readable message.
public struct MetadataError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// Whether the command was refused before it executed (routing, locks): such results are not
    /// recorded in the session, so the same sequence number can be applied later.
    public var isRefusalBeforeExecution: Bool {
        code == .wrongShard || code == .crossShard || code == .conflict
    }
}
