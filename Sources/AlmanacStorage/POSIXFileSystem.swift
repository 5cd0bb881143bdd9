import CAlmanacWriteback
import Glibc

/// The real disk, through POSIX system calls (open, pread/pwrite, fdatasync, fsync, rename, flock,
/// posix_fallocate). Stateless and thread-safe; each ``StorageFile`` belongs to one owner.
public struct POSIXFileSystem: StorageFileSystem {
    /// UNSAFE, for tests only (`serve --unsafe-no-fsync`, like etcd's flag of that name): every
    /// fdatasync and fsync is skipped, so an acknowledged write may be lost at a power cut. The
    /// power-cut test runs with it once to show that its checker catches exactly that.
    public let unsafeNoSync: Bool

    public init(unsafeNoSync: Bool = false) {
        self.unsafeNoSync = unsafeNoSync
    }

    public func createDirectory(_ path: String) throws(StorageError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw .io(operation: "mkdir", path: prefix, errno: errno)
            }
            prefix += "/"
        }
    }

    public func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = Glibc.open(path, flags, 0o644)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw .notFound(path: path) }
            throw .io(operation: "open", path: path, errno: code)
        }
        return POSIXFile(fd: fd, path: path, unsafeNoSync: unsafeNoSync)
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        guard let dir = opendir(directory) else {
            let code = errno
            if code == ENOENT { throw .notFound(path: directory) }
            throw .io(operation: "opendir", path: directory, errno: code)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        guard Glibc.rename(from, to) == 0 else { throw .io(operation: "rename to \(to)", path: from, errno: errno) }
    }

    public func delete(_ path: String) throws(StorageError) {
        guard unlink(path) == 0 else { throw .io(operation: "unlink", path: path, errno: errno) }
    }

    public func syncDirectory(_ directory: String) throws(StorageError) {
        if unsafeNoSync { return }
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(operation: "open directory", path: directory, errno: errno) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw .io(operation: "fsync directory", path: directory, errno: errno) }
    }

    public func lock(_ path: String) throws(StorageError) -> any StorageLock {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(operation: "open lock file", path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw .directoryLocked(path: path) }
            throw .io(operation: "flock", path: path, errno: code)
        }
        return POSIXLock(fd: fd)
    }
}

final class POSIXLock: StorageLock {
    private var fd: Int32

    init(fd: Int32) { self.fd = fd }

    func unlock() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        Glibc.close(fd)
        fd = -1
    }

    deinit { unlock() }
}

final class POSIXFile: StorageFile {
    let path: String
    private var fd: Int32
    private let unsafeNoSync: Bool

    init(fd: Int32, path: String, unsafeNoSync: Bool = false) {
        self.fd = fd
        self.path = path
        self.unsafeNoSync = unsafeNoSync
    }

    deinit { close() }

    func size() throws(StorageError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(operation: "fstat", path: path, errno: errno) }
        return Int(info.st_size)
    }

    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        guard count > 0 else { return [] }
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        var failure: Int32 = 0
        result.withUnsafeMutableBytes { buffer in
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { return }
                done += n
            }
        }
        if failure != 0 { throw .io(operation: "pread", path: path, errno: failure) }
        if done < count { result.removeLast(count - done) }
        return result
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(StorageError) {
        var done = 0
        var failure: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            while done < buffer.count {
                let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
        if failure != 0 { throw .io(operation: "pwrite", path: path, errno: failure) }
    }

    func append(_ bytes: [UInt8]) throws(StorageError) -> Int {
        let offset = try size()
        try write(bytes, at: offset)
        return offset
    }

    func dataSync() throws(StorageError) {
        if unsafeNoSync { return }
        guard fdatasync(fd) == 0 else { throw .io(operation: "fdatasync", path: path, errno: errno) }
    }

    func sync() throws(StorageError) {
        if unsafeNoSync { return }
        guard fsync(fd) == 0 else { throw .io(operation: "fsync", path: path, errno: errno) }
    }

    func startWriteback(offset: Int, count: Int) {
        if unsafeNoSync { return }
        // A hint: an error here (EINVAL on a file system without it, say) leaves the final fsync
        // to do all the work, as before.
        _ = almanac_start_writeback(fd, Int64(offset), Int64(count))
    }

    func truncate(to size: Int) throws(StorageError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .io(operation: "ftruncate", path: path, errno: errno) }
    }

    func preallocate(_ size: Int) throws(StorageError) {
        let current = try self.size()
        guard size > current else { return }
        let code = posix_fallocate(fd, off_t(current), off_t(size - current))
        guard code == 0 else { throw .io(operation: "posix_fallocate", path: path, errno: code) }
    }

    func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }
}
