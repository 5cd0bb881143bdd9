import AlmanacRaft
import AlmanacStorage

/// Tuning of ``WALRaftStorage``.
public struct WALStorageOptions: Sendable, Hashable {
    /// Segment size of the log engine; small so that rotation, purge and segment rewrites happen
    /// many times in one simulated run.
    public var segmentSize: Int
    /// Every this many syncs, simulate a power loss with nothing unsynced and recover the engine
    /// from the file system, checking that recovery rebuilds exactly the image the running engine
    /// held (an anomaly otherwise). 0 disables the audit.
    public var recoveryAuditInterval: Int

    public init(segmentSize: Int = 64 << 10, recoveryAuditInterval: Int = 0) {
        self.segmentSize = segmentSize
        self.recoveryAuditInterval = recoveryAuditInterval
    }
}

/// What the real engine did under one simulated node.
public struct WALStorageStatistics: Sendable, Hashable {
    /// Engine opens that replayed the log (after a crash or an audit), and torn tails they cut off.
    public var recoveries = 0
    public var tornTailsCut = 0
    /// Crashes that happened while the sync of written records was in flight (bytes handed to the
    /// file, fdatasync not returned): the only way unsynced bytes reach this engine's files.
    public var crashesDuringSync = 0
    public var syncs = 0
    public var audits = 0
    public var purges = 0
    public var segmentsDeleted = 0
    public var segmentsRewritten = 0
    public var recordsWritten = 0
}

/// A simulated node's disk backed by the real AlmanacStorage ``LogEngine`` over a faulty
/// ``InMemoryFileSystem`` (one file system and one engine per node, Raft group 1).
///
/// - `write` maps each ``DiskWrite`` to a ``GroupWrite`` (received snapshots are written with the
///   ``SnapshotStore`` first, then installed); `sync` is the engine's single fdatasync.
/// - `saveApplicationSnapshot` writes the snapshot file, records it in the log with a compaction,
///   syncs and purges (deleting or rewriting old segments).
/// - `crash` cuts power on the file system (losing unsynced writes, or keeping a torn prefix of
///   them) and reopens the engine, which replays every segment; the recovered image is `durable`.
///   A torn crash with records pending first lets the engine hand its bytes to the file and then
///   fails the fdatasync: the power loss happens during the sync, so a random prefix of the
///   bytes, possibly cut inside a record, survives.
/// - `visible` is read back from the running engine (its indexes and files).
///
/// `durable` is the image the last recovery rebuilt from the file system, replaced after every
/// successful sync by the image read back from the engine (then nothing is unsynced, so it is what
/// a recovery must rebuild; ``WALStorageOptions/recoveryAuditInterval`` checks exactly that).
/// A refused recovery or a rejected write is reported in `anomalies` (the simulator turns it into a
/// storage-contract violation), never hidden.
public struct WALRaftStorage: SimulatedRaftStorage {
    private let disk: WALDisk

    /// - Parameter node: only names the node in anomaly messages.
    public init(node: NodeID, options: WALStorageOptions = WALStorageOptions()) {
        disk = WALDisk(node: node, options: options)
    }

    public mutating func write(_ writes: [DiskWrite]) { disk.write(writes) }
    public mutating func sync() { disk.sync() }
    /// The engine's fdatasync covers everything handed to it, later rounds' writes included (a
    /// stronger durability than production's in-order batches; the in-memory disk is exact).
    public mutating func sync(throughWrite count: Int) { disk.sync() }
    public mutating func saveApplicationSnapshot(_ snapshot: Snapshot) { disk.saveApplicationSnapshot(snapshot) }
    public mutating func crash(mode: CrashMode, using random: inout Xoshiro256StarStar) {
        disk.crash(mode: mode, seed: random.next())
    }

    public var durable: RaftLogImage { disk.durable }
    public var visible: RaftLogImage { disk.visible }
    public var hasUnsyncedWrites: Bool { disk.unsynced }
    public var anomalies: [String] { disk.anomalies }
    /// Counters of what the engine did (shared by every copy of this value).
    public var statistics: WALStorageStatistics {
        var total = disk.statistics
        total.recordsWritten += disk.engine?.statistics.recordsWritten ?? 0
        return total
    }
}

/// The mutable engine state behind ``WALRaftStorage``. The simulator is single-threaded and owns
/// each storage value exclusively, so this reference is never touched concurrently.
private final class WALDisk: @unchecked Sendable {
    static let group: GroupID = 1
    let node: NodeID
    let options: WALStorageOptions
    let fileSystem = InMemoryFileSystem()
    let directory = "/node"
    var engine: LogEngine?
    var durable = RaftLogImage()
    var cachedVisible: RaftLogImage?
    var unsynced = false
    var anomalies: [String] = []
    var statistics = WALStorageStatistics()
    var crashes = 0

    init(node: NodeID, options: WALStorageOptions) {
        self.node = node
        self.options = options
        open(after: "first start")
    }

    // MARK: Writing

    func write(_ writes: [DiskWrite]) {
        guard let engine else {
            anomalies.append("node \(node): write after the engine refused to start")
            return
        }
        do {
            for groupWrite in try groupWrites(for: writes, engine: engine) {
                try engine.write(WriteBatch([groupWrite]))
                unsynced = true
                cachedVisible = nil
            }
        } catch {
            cachedVisible = nil
            anomalies.append("node \(node): engine rejected a write: \(error)")
        }
    }

    /// Folds consecutive writes into as few ``GroupWrite``s as the engine's order (install snapshot,
    /// entries, hard state) allows, mirroring ``RaftLogImage``'s rules: a snapshot not newer than
    /// the current one is ignored, entries already covered by the snapshot are dropped.
    private func groupWrites(for writes: [DiskWrite], engine: LogEngine) throws(StorageError) -> [GroupWrite] {
        var result: [GroupWrite] = []
        var current = GroupWrite(group: Self.group)
        var snapshotIndex = engine.summary(of: Self.group)?.snapshot?.index ?? 0
        var compacted = (engine.summary(of: Self.group)?.firstIndex ?? 1) - 1
        func flush() {
            if current.installSnapshot != nil || !current.entries.isEmpty || current.hardState != nil {
                result.append(current)
            }
            current = GroupWrite(group: Self.group)
        }
        for write in writes {
            switch write {
            case .snapshot(let snapshot):
                guard snapshot.metadata.index > snapshotIndex else { continue }
                flush()
                current.installSnapshot = try engine.snapshots.write(group: Self.group, snapshot: snapshot)
                snapshotIndex = snapshot.metadata.index
                compacted = snapshot.metadata.index
            case .entries(let entries):
                let kept = entries.filter { $0.index > compacted }
                guard !kept.isEmpty else { continue }
                if !current.entries.isEmpty || current.hardState != nil { flush() }
                current.entries = kept
            case .hardState(let hardState):
                if current.hardState != nil { flush() }
                current.hardState = hardState
            }
        }
        flush()
        return result
    }

    func sync() {
        guard let engine, unsynced else { return }
        do {
            try engine.sync()
        } catch {
            anomalies.append("node \(node): sync failed: \(error)")
            return
        }
        unsynced = false
        statistics.syncs += 1
        refreshAfterSync(engine)
        if options.recoveryAuditInterval > 0 && statistics.syncs % options.recoveryAuditInterval == 0 {
            audit()
        }
    }

    func saveApplicationSnapshot(_ snapshot: Snapshot) {
        guard let engine else { return }
        guard snapshot.metadata.index > (engine.summary(of: Self.group)?.snapshot?.index ?? 0) else { return }
        do {
            let reference = try engine.snapshots.write(group: Self.group, snapshot: snapshot)
            try engine.write(WriteBatch([GroupWrite(group: Self.group, checkpoint: reference,
                                                    compactThrough: snapshot.metadata.index)]))
            try engine.sync()
            unsynced = false
            statistics.syncs += 1
            let report = try engine.purge()
            statistics.purges += 1
            statistics.segmentsDeleted += report.deletedSegments.count
            statistics.segmentsRewritten += report.rewrittenSegments.count
        } catch {
            anomalies.append("node \(node): saving the snapshot at \(snapshot.metadata.index) failed: \(error)")
        }
        refreshAfterSync(engine)
    }

    // MARK: Crash and recovery

    func crash(mode: CrashMode, seed: UInt64) {
        crashes += 1
        if let engine {
            statistics.recordsWritten += engine.statistics.recordsWritten
            if mode == .tornPrefix && unsynced {
                // Power fails during the fdatasync: the bytes reach the file, the sync never returns.
                fileSystem.failSyncs(after: 0)
                do {
                    try engine.sync()
                    anomalies.append("node \(node): a sync succeeded although the disk fails every sync")
                } catch {
                    statistics.crashesDuringSync += 1
                }
            }
            engine.close()
        }
        engine = nil
        fileSystem.crash(mode == .tornPrefix ? .tornPrefix : .loseUnsynced, seed: seed)
        open(after: "crash \(crashes) (\(mode), disk seed \(seed))")
    }

    /// Power loss with nothing unsynced: recovery must rebuild exactly what the engine held.
    private func audit() {
        guard let engine, !unsynced else { return }
        statistics.audits += 1
        let before = durable
        statistics.recordsWritten += engine.statistics.recordsWritten
        engine.close()
        self.engine = nil
        fileSystem.crash(.loseUnsynced)
        open(after: "recovery audit \(statistics.audits)")
        if self.engine != nil && durable != before {
            anomalies.append("node \(node): recovery audit \(statistics.audits) rebuilt a different image: "
                + "before \(describe(before)), recovered \(describe(durable))")
        }
    }

    /// Opens the engine on the file system (replaying every segment) and takes its image as durable.
    private func open(after event: String) {
        cachedVisible = nil
        unsynced = false
        do {
            let opened = try LogEngine.open(fileSystem: fileSystem, directory: directory,
                                            options: LogEngineOptions(segmentSize: options.segmentSize))
            engine = opened
            statistics.recoveries += 1
            statistics.tornTailsCut += opened.recovery.tornTails.count
            durable = try image(of: opened)
            cachedVisible = durable
        } catch {
            engine = nil
            anomalies.append("node \(node): recovery refused the start after \(event): \(error)")
        }
    }

    // MARK: Reading

    var visible: RaftLogImage {
        if let cachedVisible { return cachedVisible }
        guard let engine else { return durable }
        do {
            let read = try image(of: engine)
            cachedVisible = read
            return read
        } catch {
            anomalies.append("node \(node): reading the log back failed: \(error)")
            return durable
        }
    }

    private func refreshAfterSync(_ engine: LogEngine) {
        cachedVisible = nil
        durable = visible
    }

    /// The group's image as the engine serves it to a restarting Raft node.
    private func image(of engine: LogEngine) throws(StorageError) -> RaftLogImage {
        let state = try engine.initialState(group: Self.group)
        var image = RaftLogImage()
        image.hardState = state.hardState
        image.snapshot = state.snapshot
        image.entries = state.entries
        for (offset, entry) in state.entries.enumerated()
        where entry.index != image.snapshotIndex + 1 + LogIndex(offset) {
            anomalies.append("node \(node): engine returned entry \(entry.index) at position \(offset) after snapshot \(image.snapshotIndex)")
            break
        }
        return image
    }

    private func describe(_ image: RaftLogImage) -> String {
        "hardState \(image.hardState) snapshot \(image.snapshotIndex)@\(image.snapshotTerm) last \(image.lastIndex)"
    }
}
