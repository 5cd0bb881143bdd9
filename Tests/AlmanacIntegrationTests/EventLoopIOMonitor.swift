import AlmanacStorage
import NIOPosix
import Synchronization

/// The real disk (``POSIXFileSystem``), watching which thread does the I/O on files whose path
/// contains `watching`: every read, sync, rename or directory sync of such a file made on an event
/// loop thread is recorded (a host loop must never wait for the disk that way). Writes into the page
/// cache are allowed.
final class EventLoopIOMonitor: StorageFileSystem {
    private let disk = POSIXFileSystem()
    let watching: String
    private let record = Mutex<(total: Int, onLoops: [String])>((0, []))

    init(watching: String) { self.watching = watching }

    /// Watched operations made on an event loop ("read /path", ...), in order.
    var operationsOnEventLoops: [String] { record.withLock { $0.onLoops } }
    /// Watched operations made anywhere.
    var operations: Int { record.withLock { $0.total } }

    fileprivate func note(_ operation: String, _ path: String) {
        guard path.contains(watching) else { return }
        let onLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        record.withLock { record in
            record.total += 1
            if onLoop { record.onLoops.append("\(operation) \(path)") }
        }
    }

    func createDirectory(_ path: String) throws(StorageError) { try disk.createDirectory(path) }
    func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile {
        MonitoredFile(try disk.open(path, create: create), monitor: self)
    }
    func list(_ directory: String) throws(StorageError) -> [String] { try disk.list(directory) }
    func exists(_ path: String) -> Bool { disk.exists(path) }
    func rename(_ from: String, to: String) throws(StorageError) {
        note("rename", to)
        try disk.rename(from, to: to)
    }
    func delete(_ path: String) throws(StorageError) { try disk.delete(path) }
    func syncDirectory(_ directory: String) throws(StorageError) {
        note("syncDirectory", directory + "/")
        try disk.syncDirectory(directory)
    }
    func lock(_ path: String) throws(StorageError) -> any StorageLock { try disk.lock(path) }
}

private final class MonitoredFile: StorageFile {
    let file: any StorageFile
    let monitor: EventLoopIOMonitor

    init(_ file: any StorageFile, monitor: EventLoopIOMonitor) {
        self.file = file
        self.monitor = monitor
    }

    var path: String { file.path }
    func size() throws(StorageError) -> Int { try file.size() }
    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        monitor.note("read", path)
        return try file.read(at: offset, count: count)
    }
    func write(_ bytes: [UInt8], at offset: Int) throws(StorageError) { try file.write(bytes, at: offset) }
    func append(_ bytes: [UInt8]) throws(StorageError) -> Int { try file.append(bytes) }
    func dataSync() throws(StorageError) {
        monitor.note("dataSync", path)
        try file.dataSync()
    }
    func sync() throws(StorageError) {
        monitor.note("sync", path)
        try file.sync()
    }
    func truncate(to size: Int) throws(StorageError) { try file.truncate(to: size) }
    func preallocate(_ size: Int) throws(StorageError) { try file.preallocate(size) }
    func close() { file.close() }
}
