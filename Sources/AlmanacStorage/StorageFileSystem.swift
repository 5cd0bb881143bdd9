/// The file-system operations the storage engine needs. Two implementations: ``POSIXFileSystem``
/// (the real disk) and ``InMemoryFileSystem`` (deterministic, with injectable faults, for tests and
/// the simulator).
///
/// Paths are plain `/`-separated strings. Durability contract (the pessimistic POSIX one):
/// written bytes survive a crash only after `dataSync()`/`sync()` on the file; a created, renamed or
/// removed name survives only after `syncDirectory` on its parent directory.
public protocol StorageFileSystem: Sendable {
    /// Creates the directory (and missing parents). No error if it exists.
    func createDirectory(_ path: String) throws(StorageError)
    /// Opens a file for reading and writing, creating it (empty) if `create` and it is missing.
    func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile
    /// Names (not paths) of the entries in a directory.
    func list(_ directory: String) throws(StorageError) -> [String]
    func exists(_ path: String) -> Bool
    /// Atomically replaces `to` with `from` (same directory).
    func rename(_ from: String, to: String) throws(StorageError)
    func delete(_ path: String) throws(StorageError)
    /// Makes creations, renames and deletions in `directory` durable.
    func syncDirectory(_ directory: String) throws(StorageError)
    /// Takes an exclusive advisory lock (flock) on `path`, creating the file. Throws
    /// ``StorageError/directoryLocked(path:)`` when another holder has it.
    func lock(_ path: String) throws(StorageError) -> any StorageLock
}

extension StorageFile {
    /// No early writeback (files with nothing behind them, such as the in-memory ones).
    public func startWriteback(offset: Int, count: Int) {}
}

/// An open file. Not thread-safe: one owner at a time (the engine serializes access).
public protocol StorageFile: AnyObject {
    var path: String { get }
    /// Current size in bytes (including preallocated space).
    func size() throws(StorageError) -> Int
    /// Reads up to `count` bytes at `offset` (fewer at end of file).
    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8]
    /// Writes all of `bytes` at `offset`, extending the file if needed.
    func write(_ bytes: [UInt8], at offset: Int) throws(StorageError)
    /// Writes `bytes` at the current end of the file and returns the offset they went to.
    func append(_ bytes: [UInt8]) throws(StorageError) -> Int
    /// Flushes the file's data (and the metadata needed to read it back): fdatasync.
    func dataSync() throws(StorageError)
    /// Flushes data and all metadata: fsync.
    func sync() throws(StorageError)
    /// Starts writing `count` bytes at `offset` back to the disk and returns without waiting
    /// (Linux's sync_file_range with SYNC_FILE_RANGE_WRITE): a hint that spreads a large file's
    /// writeback over the time it is written, so that the final sync has little left to do. It
    /// promises nothing; only ``sync()`` or ``dataSync()`` makes the bytes durable.
    func startWriteback(offset: Int, count: Int)
    /// Sets the size, dropping bytes beyond it.
    func truncate(to size: Int) throws(StorageError)
    /// Reserves space so that the file is at least `size` bytes long (zero-filled).
    func preallocate(_ size: Int) throws(StorageError)
    func close()
}

/// A held directory lock; released by `unlock()` (or when the process dies).
public protocol StorageLock: AnyObject {
    func unlock()
}

extension StorageFileSystem {
    /// Writes a whole file crash-safely: temp name, write, fsync, rename, fsync the directory.
    ///
    /// Large files are written and synced in pieces of `syncEveryBytes`, so that the disk never has
    /// a whole snapshot's worth of dirty pages to write back at once: a WAL fdatasync issued
    /// meanwhile waits behind at most one piece.
    public func writeFileAtomically(_ path: String, bytes: [UInt8], syncEveryBytes: Int = 1 << 20) throws(StorageError) {
        try writeFileAtomically(path, pieces: [bytes], syncEveryBytes: syncEveryBytes)
    }

    /// ``writeFileAtomically(_:bytes:syncEveryBytes:)`` for a file made of `pieces` back to back,
    /// each written from its own buffer (no image of the whole file is built). A piece larger than
    /// `syncEveryBytes` is written and synced `syncEveryBytes` at a time.
    public func writeFileAtomically(_ path: String, pieces: [[UInt8]], syncEveryBytes: Int = 1 << 20) throws(StorageError) {
        let temporary = path + ".tmp"
        let file = try open(temporary, create: true)
        defer { file.close() }
        try file.truncate(to: 0)
        let step = max(4096, syncEveryBytes)
        let total = pieces.reduce(0) { $0 + $1.count }
        var offset = 0
        var unsynced = 0
        for piece in pieces {
            var start = 0
            while start < piece.count {
                let end = min(piece.count, start + step - unsynced)
                try file.write(start == 0 && end == piece.count ? piece : Array(piece[start..<end]), at: offset)
                offset += end - start
                unsynced += end - start
                start = end
                if unsynced >= step && offset < total {
                    try file.dataSync()
                    unsynced = 0
                }
            }
        }
        try file.sync()
        try rename(temporary, to: path)
        try syncDirectory(parentDirectory(of: path))
    }

    /// Reads a whole file.
    public func readFile(_ path: String) throws(StorageError) -> [UInt8] {
        let file = try open(path, create: false)
        defer { file.close() }
        return try file.read(at: 0, count: try file.size())
    }
}

/// The directory part of a path ("." when there is none).
public func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}

/// Joins a directory and a name.
public func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
