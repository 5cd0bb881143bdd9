/// A metadata operation as a client sends it to the metadata service.
public enum MetadataOp: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Path resolution that failed (negative lookup), e.g. stat or open of a missing path.
    case lookup
    /// Attributes of an existing path (stat/access by path).
    case getattr
    /// Open of an existing file or directory (also exec of a binary).
    case open
    /// Open with O_CREAT (create or truncate).
    case create
    case close
    case readdir
    case readlink
    case mkdir
    case unlink
    case rmdir
    case rename
    /// chmod/chown/utimensat/truncate and their fd variants.
    case setattr

    public var description: String { name }

    var name: String {
        switch self {
        case .lookup: return "lookup"
        case .getattr: return "getattr"
        case .open: return "open"
        case .create: return "create"
        case .close: return "close"
        case .readdir: return "readdir"
        case .readlink: return "readlink"
        case .mkdir: return "mkdir"
        case .unlink: return "unlink"
        case .rmdir: return "rmdir"
        case .rename: return "rename"
        case .setattr: return "setattr"
        }
    }

    /// Number of cases, for dense tables.
    static let count = allCases.count
}

/// One request in a client's stream.
public struct OpEvent: Sendable, Hashable {
    /// Client or session id (one stream per id).
    public var stream: UInt32
    /// Interned file id (the caller maps paths to ids).
    public var file: UInt32
    public var op: MetadataOp
    /// Microseconds on the caller's clock.
    public var time: Int64

    public init(stream: UInt32, file: UInt32, op: MetadataOp, time: Int64) {
        self.stream = stream
        self.file = file
        self.op = op
        self.time = time
    }

    /// (file, op) packed into one key.
    public var key: FileOp { FileOp(file: file, op: op) }
}

/// A (file, operation) pair, the unit that is predicted and journaled.
public struct FileOp: Sendable, Hashable {
    public var file: UInt32
    public var op: MetadataOp
    public init(file: UInt32, op: MetadataOp) { self.file = file; self.op = op }
    var packed: UInt64 { UInt64(file) << 8 | UInt64(op.rawValue) }
    init(packed: UInt64) {
        file = UInt32(truncatingIfNeeded: packed >> 8)
        op = MetadataOp(rawValue: UInt8(truncatingIfNeeded: packed)) ?? .lookup
    }
}
