import AlmanacWire

/// A typed client error: what went wrong, the protocol error code and a message.
public struct AlmanacClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The server answered the request with an error (`code` says which).
        case operation
        /// No endpoint could be reached, or every endpoint stayed NOT_LEADER/UNAVAILABLE until the deadline.
        case unavailable
        /// The operation's deadline passed; a write's outcome is unknown.
        case timeout
        /// The server violated the protocol or reported that we did.
        case protocolViolation
        /// The caller passed something unusable (e.g. a relative path).
        case invalidArgument
    }

    public var kind: Kind
    /// The protocol error code (`.ok` when the failure did not come with one).
    public var code: Almanac_Api_V1_ErrorCode
    public var message: String

    public init(_ kind: Kind, code: Almanac_Api_V1_ErrorCode = .ok, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// The error from a response's `Error` message.
    public init(response error: Almanac_Api_V1_Error) {
        self.init(.operation, code: error.code, error.message)
    }

    /// Whether the cluster (rather than the request) is the problem: no endpoint, timeouts, no leader.
    public var isClusterUnavailable: Bool {
        switch kind {
        case .unavailable, .timeout: true
        case .operation: code == .unavailable || code == .timeout || code == .notLeader
        case .protocolViolation, .invalidArgument: false
        }
    }

    /// The short name of the code, e.g. "ENOENT" or "NOT_LEADER"; for failures without a server
    /// code, the kind's equivalent ("UNAVAILABLE", "TIMEOUT", "PROTOCOL_ERROR", "EINVAL").
    public var codeName: String {
        guard code == .ok else { return Self.name(of: code) }
        switch kind {
        case .operation: return Self.name(of: code)
        case .unavailable: return "UNAVAILABLE"
        case .timeout: return "TIMEOUT"
        case .protocolViolation: return "PROTOCOL_ERROR"
        case .invalidArgument: return "EINVAL"
        }
    }

    public var description: String { "\(message) (\(codeName))" }

    /// Short names of the protocol codes.
    public static func name(of code: Almanac_Api_V1_ErrorCode) -> String {
        switch code {
        case .ok: "OK"
        case .enoent: "ENOENT"
        case .eexist: "EEXIST"
        case .enotdir: "ENOTDIR"
        case .eisdir: "EISDIR"
        case .enotempty: "ENOTEMPTY"
        case .einval: "EINVAL"
        case .enametoolong: "ENAMETOOLONG"
        case .exdev: "EXDEV"
        case .ebadf: "EBADF"
        case .emlink: "EMLINK"
        case .eloop: "ELOOP"
        case .eperm: "EPERM"
        case .efbig: "EFBIG"
        case .enospc: "ENOSPC"
        case .notLeader: "NOT_LEADER"
        case .unavailable: "UNAVAILABLE"
        case .timeout: "TIMEOUT"
        case .protocolError: "PROTOCOL_ERROR"
        case .tooLarge: "TOO_LARGE"
        case .staleSession: "STALE_SESSION"
        case .unsupported: "UNSUPPORTED"
        case .internal: "INTERNAL"
        case .wrongShard: "WRONG_SHARD"
        case .conflict: "CONFLICT"
        case .unauthenticated: "UNAUTHENTICATED"
        case .permissionDenied: "PERMISSION_DENIED"
        case .UNRECOGNIZED(let raw): "CODE_\(raw)"
        }
    }

    /// A POSIX-style explanation for file-system codes, e.g. "no such file or directory".
    public var posixDescription: String? {
        switch code {
        case .enoent: "no such file or directory"
        case .eexist: "file exists"
        case .enotdir: "not a directory"
        case .eisdir: "is a directory"
        case .enotempty: "directory not empty"
        case .einval: "invalid argument"
        case .enametoolong: "file name too long"
        case .exdev: "cross-shard link or rename not supported"
        case .ebadf: "bad file handle"
        case .emlink: "too many links"
        case .eloop: "too many levels of symbolic links"
        case .eperm: "operation not permitted"
        case .efbig: "file too large"
        case .enospc: "no space left on shard"
        default: nil
        }
    }
}
