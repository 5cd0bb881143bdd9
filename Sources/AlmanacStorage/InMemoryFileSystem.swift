import Synchronization

/// A deterministic in-memory disk with injectable faults, for tests and the simulator.
///
/// It keeps two images of everything: what the process sees (`current`) and what would survive a
/// power loss (`durable`). `dataSync`/`sync` make a file's bytes durable; `syncDirectory` makes
/// names (create, rename, delete) in that directory durable. ``crash(_:seed:)`` throws away the
/// volatile image, optionally keeping a torn prefix of the unsynced writes, and invalidates every
/// open handle and lock. Faults: lost unsynced writes, torn writes, bit flips, fsync failure.
public final class InMemoryFileSystem: StorageFileSystem {
    /// What a crash keeps of the writes that were not yet synced.
    public enum CrashMode: Sendable {
        /// Every unsynced write is lost.
        case loseUnsynced
        /// Per file, a random prefix of the unsynced writes survives, the last one possibly cut at a
        /// random byte (a torn write). Later writes never survive without earlier ones.
        case tornPrefix
    }

    fileprivate enum PendingOperation {
        case write(offset: Int, bytes: [UInt8])
        case truncate(size: Int)
    }

    /// How to take back one unsynced operation: the size before it and the bytes it overwrote.
    fileprivate struct Undo {
        var operation: PendingOperation
        var previousSize: Int
        var overwritten: [UInt8]
        var overwrittenOffset: Int
    }

    /// A file: the bytes the process sees, plus an undo log of everything since the last sync
    /// (so the durable image costs memory only for unsynced changes).
    fileprivate struct Inode {
        var current: [UInt8] = []
        var undo: [Undo] = []
    }

    private struct State {
        var inodes: [Int: Inode] = [:]
        var names: [String: Int] = [:]
        var durableNames: [String: Int] = [:]
        var directories: Set<String> = ["/", "."]
        var nextInode = 1
        var generation = 0
        var locks: Set<String> = []
        /// Syncs left before every sync fails; nil = never fail.
        var syncsBeforeFailure: Int?
        var syncCount = 0
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: Fault injection and inspection

    /// After `successes` more successful syncs (file or directory), every sync fails with EIO.
    public func failSyncs(after successes: Int) {
        state.withLock { $0.syncsBeforeFailure = successes }
    }

    /// Number of successful syncs so far.
    public var syncCount: Int { state.withLock { $0.syncCount } }

    /// Simulates a power loss / process kill. Open handles and locks become invalid.
    public func crash(_ mode: CrashMode, seed: UInt64 = 0) {
        state.withLock { state in
            var random = SplitMix64(seed: seed)
            for id in Array(state.inodes.keys) {
                Self.crash(&state.inodes[id]!, mode: mode, random: &random)
            }
            state.names = state.durableNames
            let live = Set(state.names.values)
            state.inodes = state.inodes.filter { live.contains($0.key) }
            state.locks = []
            state.generation += 1
            state.syncsBeforeFailure = nil
        }
    }

    /// Flips one bit of a file in both images (as if the medium decayed).
    public func flipBit(_ path: String, byteOffset: Int, bit: Int = 0) throws(StorageError) {
        try state.withLock { (state) throws(StorageError) in
            guard let id = state.names[path], var inode = state.inodes[id] else { throw .notFound(path: path) }
            guard byteOffset < inode.current.count else { throw .invalidRequest("offset beyond end of \(path)") }
            inode.current[byteOffset] ^= UInt8(1 << (bit & 7))
            for k in inode.undo.indices where inode.undo[k].overwrittenOffset <= byteOffset
                && byteOffset < inode.undo[k].overwrittenOffset + inode.undo[k].overwritten.count {
                inode.undo[k].overwritten[byteOffset - inode.undo[k].overwrittenOffset] ^= UInt8(1 << (bit & 7))
            }
            state.inodes[id] = inode
        }
    }

    /// Replaces a file's bytes in both images (tests: cut or zero a tail).
    public func setContents(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
        try state.withLock { (state) throws(StorageError) in
            guard let id = state.names[path], var inode = state.inodes[id] else { throw .notFound(path: path) }
            inode.current = bytes
            inode.undo = []
            state.inodes[id] = inode
        }
    }

    /// The bytes a reader sees now.
    public func contents(_ path: String) throws(StorageError) -> [UInt8] {
        try state.withLock { (state) throws(StorageError) in
            guard let id = state.names[path], let inode = state.inodes[id] else { throw .notFound(path: path) }
            return inode.current
        }
    }

    // MARK: StorageFileSystem

    public func createDirectory(_ path: String) throws(StorageError) {
        state.withLock { state in
            var prefix = path.hasPrefix("/") ? "/" : ""
            for component in path.split(separator: "/") {
                prefix += component
                state.directories.insert(prefix)
                prefix += "/"
            }
        }
    }

    public func open(_ path: String, create: Bool) throws(StorageError) -> any StorageFile {
        try state.withLock { (state) throws(StorageError) -> any StorageFile in
            guard state.directories.contains(parentDirectory(of: path)) else { throw .notFound(path: path) }
            if let id = state.names[path] {
                return InMemoryFile(fileSystem: self, inode: id, path: path, generation: state.generation)
            }
            guard create else { throw .notFound(path: path) }
            let id = state.nextInode
            state.nextInode += 1
            state.inodes[id] = Inode()
            state.names[path] = id
            return InMemoryFile(fileSystem: self, inode: id, path: path, generation: state.generation)
        }
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        try state.withLock { (state) throws(StorageError) in
            guard state.directories.contains(directory) else { throw .notFound(path: directory) }
            return state.names.keys.filter { parentDirectory(of: $0) == directory }
                .map { String($0.split(separator: "/").last ?? "") }.sorted()
        }
    }

    public func exists(_ path: String) -> Bool {
        state.withLock { $0.names[path] != nil || $0.directories.contains(path) }
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        try state.withLock { (state) throws(StorageError) in
            guard let id = state.names.removeValue(forKey: from) else { throw .notFound(path: from) }
            state.names[to] = id
        }
    }

    public func delete(_ path: String) throws(StorageError) {
        try state.withLock { (state) throws(StorageError) in
            guard state.names.removeValue(forKey: path) != nil else { throw .notFound(path: path) }
        }
    }

    public func syncDirectory(_ directory: String) throws(StorageError) {
        try state.withLock { (state) throws(StorageError) in
            try Self.consumeSync(&state, path: directory)
            state.durableNames = state.durableNames.filter { parentDirectory(of: $0.key) != directory }
            for (name, id) in state.names where parentDirectory(of: name) == directory {
                state.durableNames[name] = id
            }
        }
    }

    public func lock(_ path: String) throws(StorageError) -> any StorageLock {
        try state.withLock { (state) throws(StorageError) -> any StorageLock in
            guard !state.locks.contains(path) else { throw .directoryLocked(path: path) }
            state.locks.insert(path)
            return InMemoryLock(fileSystem: self, path: path, generation: state.generation)
        }
    }

    // MARK: Used by handles

    fileprivate func unlock(_ path: String, generation: Int) {
        state.withLock { state in
            if state.generation == generation { state.locks.remove(path) }
        }
    }

    fileprivate func withInode<R>(_ id: Int, path: String, generation: Int,
                                  _ body: (inout Inode) throws(StorageError) -> R) throws(StorageError) -> R {
        try state.withLock { (state) throws(StorageError) -> R in
            guard state.generation == generation, state.inodes[id] != nil else {
                throw .staleHandle(path: path)
            }
            return try body(&state.inodes[id]!)
        }
    }

    fileprivate func syncInode(_ id: Int, path: String, generation: Int) throws(StorageError) {
        try state.withLock { (state) throws(StorageError) in
            guard state.generation == generation, state.inodes[id] != nil else {
                throw .staleHandle(path: path)
            }
            try Self.consumeSync(&state, path: path)
            state.inodes[id]!.undo.removeAll()
        }
    }

    private static func consumeSync(_ state: inout State, path: String) throws(StorageError) {
        if let left = state.syncsBeforeFailure {
            if left <= 0 { throw .io(operation: "fsync (injected failure)", path: path, errno: 5) }
            state.syncsBeforeFailure = left - 1
        }
        state.syncCount += 1
    }

    fileprivate static func record(_ operation: PendingOperation, in inode: inout Inode) {
        let size = inode.current.count
        var undo = Undo(operation: operation, previousSize: size, overwritten: [], overwrittenOffset: 0)
        switch operation {
        case let .write(offset, bytes):
            if offset < size {
                undo.overwrittenOffset = offset
                undo.overwritten = Array(inode.current[offset..<min(size, offset + bytes.count)])
            }
        case let .truncate(newSize):
            if newSize < size {
                undo.overwrittenOffset = newSize
                undo.overwritten = Array(inode.current[newSize..<size])
            }
        }
        apply(operation, to: &inode.current)
        inode.undo.append(undo)
    }

    private static func rollBack(_ undo: Undo, in image: inout [UInt8]) {
        if image.count > undo.previousSize {
            image.removeLast(image.count - undo.previousSize)
        } else if image.count < undo.previousSize {
            image.append(contentsOf: [UInt8](repeating: 0, count: undo.previousSize - image.count))
        }
        if !undo.overwritten.isEmpty {
            image.replaceSubrange(undo.overwrittenOffset..<(undo.overwrittenOffset + undo.overwritten.count),
                                  with: undo.overwritten)
        }
    }

    /// Rolls a file back to its durable image, keeping a torn prefix of unsynced writes if asked.
    private static func crash(_ inode: inout Inode, mode: CrashMode, random: inout SplitMix64) {
        let count = inode.undo.count
        var kept = 0
        var partial: PendingOperation?
        if case .tornPrefix = mode, count > 0 {
            kept = Int(random.next() % UInt64(count + 1))
            if kept < count, case let .write(offset, bytes) = inode.undo[kept].operation {
                let cut = Int(random.next() % UInt64(bytes.count + 1))
                if cut > 0 { partial = .write(offset: offset, bytes: Array(bytes[0..<cut])) }
            }
        }
        for undo in inode.undo[kept...].reversed() { rollBack(undo, in: &inode.current) }
        if let partial { apply(partial, to: &inode.current) }
        inode.undo = []
    }

    private static func apply(_ operation: PendingOperation, to image: inout [UInt8]) {
        switch operation {
        case let .write(offset, bytes):
            if image.count < offset + bytes.count {
                image.append(contentsOf: [UInt8](repeating: 0, count: offset + bytes.count - image.count))
            }
            image.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        case let .truncate(size):
            if image.count > size {
                image.removeLast(image.count - size)
            } else {
                image.append(contentsOf: [UInt8](repeating: 0, count: size - image.count))
            }
        }
    }
}

private final class InMemoryLock: StorageLock {
    let fileSystem: InMemoryFileSystem
    let path: String
    let generation: Int
    private var held = true

    init(fileSystem: InMemoryFileSystem, path: String, generation: Int) {
        self.fileSystem = fileSystem
        self.path = path
        self.generation = generation
    }

    func unlock() {
        guard held else { return }
        held = false
        fileSystem.unlock(path, generation: generation)
    }

    deinit { unlock() }
}

private final class InMemoryFile: StorageFile {
    let fileSystem: InMemoryFileSystem
    let inode: Int
    let path: String
    let generation: Int

    init(fileSystem: InMemoryFileSystem, inode: Int, path: String, generation: Int) {
        self.fileSystem = fileSystem
        self.inode = inode
        self.path = path
        self.generation = generation
    }

    func size() throws(StorageError) -> Int {
        try fileSystem.withInode(inode, path: path, generation: generation) { $0.current.count }
    }

    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        try fileSystem.withInode(inode, path: path, generation: generation) { inode in
            guard offset < inode.current.count, count > 0 else { return [] }
            return Array(inode.current[offset..<min(inode.current.count, offset + count)])
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(StorageError) {
        try fileSystem.withInode(inode, path: path, generation: generation) { inode in
            InMemoryFileSystem.record(.write(offset: offset, bytes: bytes), in: &inode)
        }
    }

    func append(_ bytes: [UInt8]) throws(StorageError) -> Int {
        try fileSystem.withInode(inode, path: path, generation: generation) { inode in
            let offset = inode.current.count
            InMemoryFileSystem.record(.write(offset: offset, bytes: bytes), in: &inode)
            return offset
        }
    }

    func dataSync() throws(StorageError) {
        try fileSystem.syncInode(inode, path: path, generation: generation)
    }

    func sync() throws(StorageError) {
        try fileSystem.syncInode(inode, path: path, generation: generation)
    }

    func truncate(to size: Int) throws(StorageError) {
        try fileSystem.withInode(inode, path: path, generation: generation) { inode in
            InMemoryFileSystem.record(.truncate(size: size), in: &inode)
        }
    }

    func preallocate(_ size: Int) throws(StorageError) {
        try fileSystem.withInode(inode, path: path, generation: generation) { inode in
            if inode.current.count < size {
                InMemoryFileSystem.record(.truncate(size: size), in: &inode)
            }
        }
    }

    func close() {}
}

/// A small deterministic generator (SplitMix64) for reproducible fault injection.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
