import AlmanacRaft

/// How a simulated power loss treats writes that were not yet fsynced.
public enum CrashMode: Sendable, Hashable {
    /// Every unsynced write is lost.
    case loseUnsynced
    /// A prefix of the unsynced writes survives and the last surviving entry batch may be cut short
    /// (a torn write: the WAL kept some records of the batch, checksums dropped the rest).
    case tornPrefix
}

/// The storage a simulated replica persists its Raft state to. Kept small so that a real WAL
/// (AlmanacStorage on a faulty in-memory file system) can later stand in for the in-memory model.
public protocol SimulatedRaftStorage: Sendable {
    /// Buffers writes; they become durable only at the next `sync()`.
    mutating func write(_ writes: [DiskWrite])
    /// Makes every buffered write durable.
    mutating func sync()
    /// Makes the writes of the first `count` calls of `write` (since the disk was made) durable:
    /// the fsync of a Ready round covers its own writes and the earlier ones, not later rounds'.
    mutating func sync(throughWrite count: Int)
    /// Atomically and durably replaces the snapshot (write a temp file, fsync, rename) and drops
    /// the entries it covers.
    mutating func saveApplicationSnapshot(_ snapshot: Snapshot)
    /// Power loss: unsynced writes are lost (or torn, per `mode`).
    mutating func crash(mode: CrashMode, using random: inout Xoshiro256StarStar)
    /// What the node would see if it restarted now (only durable state).
    var durable: RaftLogImage { get }
    /// What the running node has written, synced or not.
    var visible: RaftLogImage { get }
    /// Whether some writes are not yet durable.
    var hasUnsyncedWrites: Bool { get }
    /// Contract breaches seen by the disk (for example a write that leaves a gap), oldest first.
    var anomalies: [String] { get }
}

/// An in-memory disk with a write buffer and fsync.
public struct InMemoryRaftStorage: SimulatedRaftStorage {
    public private(set) var durable = RaftLogImage()
    public private(set) var visible = RaftLogImage()
    /// Writes not yet durable, each with the number of the `write` call that made it.
    private var unsynced: [(call: Int, write: DiskWrite)] = []
    private var calls = 0
    public private(set) var anomalies: [String] = []

    public init() {}

    public var hasUnsyncedWrites: Bool { !unsynced.isEmpty }

    public mutating func write(_ writes: [DiskWrite]) {
        calls += 1
        for w in writes {
            if let problem = visible.apply(w) { anomalies.append(problem) }
            unsynced.append((calls, w))
        }
    }

    public mutating func sync() {
        guard !unsynced.isEmpty else { return }
        durable = visible
        unsynced.removeAll()
    }

    public mutating func sync(throughWrite count: Int) {
        guard let last = unsynced.last else { return }
        if last.call <= count { return sync() }
        let synced = unsynced.prefix { $0.call <= count }
        for w in synced { _ = durable.apply(w.write) }
        unsynced.removeFirst(synced.count)
    }

    public mutating func saveApplicationSnapshot(_ snapshot: Snapshot) {
        durable.install(snapshot)
        visible.install(snapshot)
    }

    public mutating func crash(mode: CrashMode, using random: inout Xoshiro256StarStar) {
        if mode == .tornPrefix && !unsynced.isEmpty {
            let kept = random.int(in: 0...unsynced.count)
            for w in unsynced.prefix(kept) { _ = durable.apply(w.write) }
            if kept < unsynced.count, case .entries(let es) = unsynced[kept].write, es.count > 1 {
                _ = durable.apply(.entries(Array(es.prefix(random.int(in: 1..<es.count)))))
            }
        }
        unsynced.removeAll()
        visible = durable
    }
}
