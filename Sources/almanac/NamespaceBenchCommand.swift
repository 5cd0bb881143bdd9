import AlmanacMetadata
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `almanac namespace-bench`: one shard's namespace at scale, in this process (no network, no
/// disk): replays N creates as journal entries (the WAL replay half of a recovery), then measures
/// the resident memory per inode, the snapshot's size and encode time, its restore (the snapshot
/// half of a recovery, and what a migration's target does with the copy) and the state digest.
/// Release builds only give meaningful figures. `bench/scale.sh` runs it at 1 M and 10 M inodes.
struct NamespaceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "namespace-bench",
        abstract: "Measure one shard's namespace at scale: memory per inode, replay, snapshot and restore rates.")

    @Option(help: "Files to create (plus one directory per --per-directory files).") var inodes: Int = 1_000_000
    @Option(help: "Files per directory.") var perDirectory: Int = 1_000
    @Option(help: "Bytes per file name (at least 8).") var nameBytes: Int = 24
    @Option(help: "Order in which a directory's names are created: random (each lands anywhere in the sorted directory, as hashed or unpadded names do) or sorted (each after the last).")
    var nameOrder: NameOrder = .random

    enum NameOrder: String, ExpressibleByArgument, Encodable {
        case random, sorted
    }
    @Flag(help: "Print one JSON object instead of the table.") var json = false

    struct Figures: Encodable {
        var inodes: Int
        var directories: Int
        var nameBytes: Int
        var nameOrder: NameOrder
        var replaySeconds: Double
        var replayPerSecond: Double
        var residentBytesPerInode: Double
        var snapshotBytes: Int
        var snapshotSeconds: Double
        var restoreSeconds: Double
        var restorePerSecond: Double
        var digestSeconds: Double
        var restoredResidentBytesPerInode: Double
        /// While a checkpoint's copy of the state is held (the host encodes it off the loop), the
        /// first write to the live state, and the slowest of the next writes (creates spread over
        /// the directories): what copy-on-write of the state costs a request.
        var firstWriteDuringCheckpointSeconds: Double
        var maxWriteDuringCheckpointSeconds: Double
    }

    func validate() throws {
        guard inodes > 0, perDirectory > 0, perDirectory <= 100_000_000, nameBytes >= 8, nameBytes <= 255 else {
            throw ValidationError("--inodes must be positive, --per-directory 1...100000000, --name-bytes 8...255")
        }
    }

    func run() throws {
        let baseline = Self.residentBytes()
        var machine = MetadataStateMachine(config: MetadataConfig())
        var index: UInt64 = 0
        var time = Timestamp(seconds: 1_700_000_000)
        func apply(_ operation: MetadataOperation, session: SessionID, sequence: SequenceNumber) throws -> CommandResult {
            index += 1
            time.nanoseconds += 1_000
            let entry = CommandEnvelope(shardID: machine.config.shardID, sessionID: session, sequence: sequence, time: time, operation: operation)
            // The WAL replay path: decode the journal entry, then apply it.
            let result = machine.apply(encoded: entry.encoded(), at: index)
            if case .failure(let error) = result { throw ValidationError("\(operation) failed at entry \(index): \(error)") }
            return result
        }
        guard case .success(.sessionRegistered(let session)) = try apply(.registerSession, session: 0, sequence: 0) else {
            throw ValidationError("no session")
        }
        let directories = (inodes + perDirectory - 1) / perDirectory
        // Random order: file i is named by a bijection of 0..<10^8 (multiplying by a number prime
        // to 10^8), so the names stay distinct and 8 digits long but arrive in no order.
        let order = nameOrder
        func fileNumber(_ file: Int) -> Int { order == .sorted ? file : (file &* 2_654_435_761) % 100_000_000 }
        let padding = String(repeating: "x", count: nameBytes - 8)
        var sequence: SequenceNumber = 0
        let replayStart = ContinuousClock.now
        var created = 0
        for directory in 0..<directories {
            sequence += 1
            let made = try apply(.mkdir(parent: .root, name: ByteString(String(format: "d%07d", directory)), mode: 0o755, uid: 0, gid: 0),
                                 session: session, sequence: sequence)
            guard case .success(.attributes(let attributes)) = made else { throw ValidationError("mkdir answered \(made)") }
            for file in 0..<min(perDirectory, inodes - created) {
                sequence += 1
                _ = try apply(.create(parent: attributes.id, name: ByteString(String(format: "%08d", fileNumber(file)) + padding), mode: 0o644, uid: 0, gid: 0),
                              session: session, sequence: sequence)
            }
            created += min(perDirectory, inodes - created)
        }
        let replay = Self.seconds(since: replayStart)
        let replayEntries = index
        // A checkpoint begins as the host's does: a copy of the state is held while it is encoded,
        // and requests go on writing the live state meanwhile.
        let checkpointCopy = machine
        var writeSeconds: [Double] = []
        for write in 0..<Self.writesDuringCheckpoint {
            sequence += 1
            let target = try machine.lookup(parent: .root, name: ByteString(String(format: "d%07d", (write * 7_919) % directories)))
            let start = ContinuousClock.now
            _ = try apply(.create(parent: target.id, name: ByteString(String(format: "c%07d", write) + padding), mode: 0o644, uid: 0, gid: 0),
                          session: session, sequence: sequence)
            writeSeconds.append(Self.seconds(since: start))
        }
        withExtendedLifetime(checkpointCopy) {}
        let total = machine.inodeCount
        // Freed buffers of tables that outgrew themselves are not counted: the heap is trimmed first.
        Self.trimHeap()
        let resident = Self.residentBytes()


        let snapshotStart = ContinuousClock.now
        let bytes = machine.snapshot()
        let snapshotSeconds = Self.seconds(since: snapshotStart)
        let digestStart = ContinuousClock.now
        let digest = machine.digest
        let digestSeconds = Self.seconds(since: digestStart)
        machine = MetadataStateMachine(config: MetadataConfig())
        // The dropped state's pages go back to the system first: the restore must not be measured
        // in memory the heap still holds.
        Self.trimHeap()
        let afterDrop = Self.residentBytes()
        let restoreStart = ContinuousClock.now
        let restored = try MetadataStateMachine(restoringFrom: bytes)
        let restoreSeconds = Self.seconds(since: restoreStart)
        let restoredResident = Self.residentBytes()
        guard restored.inodeCount == total, restored.digest == digest else {
            throw ValidationError("the restored state differs from the original")
        }
        let figures = Figures(
            inodes: total, directories: directories, nameBytes: nameBytes, nameOrder: nameOrder, replaySeconds: replay,
            replayPerSecond: Double(replayEntries) / replay,
            residentBytesPerInode: Double(max(0, resident - baseline)) / Double(total),
            snapshotBytes: bytes.count, snapshotSeconds: snapshotSeconds,
            restoreSeconds: restoreSeconds, restorePerSecond: Double(total) / restoreSeconds, digestSeconds: digestSeconds,
            restoredResidentBytesPerInode: Double(max(0, restoredResident - afterDrop)) / Double(total),
            firstWriteDuringCheckpointSeconds: writeSeconds.first ?? 0, maxWriteDuringCheckpointSeconds: writeSeconds.max() ?? 0)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(figures), as: UTF8.self))
            return
        }
        print(String(format: "namespace-bench: %d inodes (%d directories of %d files, %d-byte names, ", total, directories, perDirectory, nameBytes)
              + "created in \(nameOrder.rawValue) order)")
        print(String(format: "  replay (decode + apply) %.2f s: %.0f entries/s", replay, figures.replayPerSecond))
        print(String(format: "  resident memory %.0f bytes per inode (after replay), %.0f (after restore)",
                     figures.residentBytesPerInode, figures.restoredResidentBytesPerInode))
        print(String(format: "  snapshot %d bytes (%.1f per inode), encoded in %.2f s", bytes.count, Double(bytes.count) / Double(total), snapshotSeconds))
        print(String(format: "  restore %.2f s: %.0f inodes/s", restoreSeconds, figures.restorePerSecond))
        print(String(format: "  writes while a checkpoint's copy is held: first %.2f ms, slowest of %d %.2f ms",
                     figures.firstWriteDuringCheckpointSeconds * 1000, Self.writesDuringCheckpoint,
                     figures.maxWriteDuringCheckpointSeconds * 1000))
        print(String(format: "  digest %.2f s", digestSeconds))
    }

    /// Creates measured while a checkpoint's copy of the state is held.
    static let writesDuringCheckpoint = 1_000

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start) / .seconds(1)
    }

    /// glibc's `malloc_trim(0)` (not in the Glibc module map; looked up at run time).
    static func trimHeap() {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        typealias Trim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }

    /// This process's resident set (Linux /proc/self/statm), in bytes.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
