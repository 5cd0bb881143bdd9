/// Errors raised by the storage layer. Every case carries enough context to act on.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// Another process (or another engine in this process) holds the data directory's lock.
    case directoryLocked(path: String)
    /// A record that is not at the tail of the last segment is damaged: the start is refused.
    case corruptRecord(file: String, offset: Int, reason: String)
    /// A file that is not a log record (segment header, snapshot file) is damaged or malformed.
    case corruptFile(file: String, reason: String)
    /// The engine is stopped for good: an fsync, fdatasync or write failed (it is never retried), or it was closed.
    case stopped(reason: String)
    /// The caller asked for something that violates the log's rules.
    case invalidRequest(String)
    /// The requested data is not (or no longer) in the log.
    case unavailable(String)
    /// The in-memory file system crashed; handles from before the crash are dead.
    case staleHandle(path: String)
    /// A file or directory does not exist.
    case notFound(path: String)

    public var description: String {
        switch self {
        case let .io(operation, path, code):
            return "\(operation) failed on \(path): errno \(code)"
        case let .directoryLocked(path):
            return "data directory is locked by another process (lock file \(path)); stop the other almanac process first"
        case let .corruptRecord(file, offset, reason):
            return "corrupt record in \(file) at byte offset \(offset): \(reason); refusing to start (repair from peers)"
        case let .corruptFile(file, reason):
            return "corrupt file \(file): \(reason)"
        case let .stopped(reason):
            return "storage engine stopped (\(reason)); restart the node to recover"
        case let .invalidRequest(message):
            return "invalid storage request: \(message)"
        case let .unavailable(message):
            return "unavailable: \(message)"
        case let .staleHandle(path):
            return "stale handle for \(path): the simulated disk crashed"
        case let .notFound(path):
            return "no such file or directory: \(path)"
        }
    }
}
