import AlmanacRaft
import AlmanacStorage
import ArgumentParser
import Dispatch
import Foundation
import Glibc
import Synchronization

/// Hidden: the child process of the real crash test. Appends through group commit forever and
/// prints `ack <group> <index>` once each entry's sync has returned; the test kills it with SIGKILL.
struct StorageCrashChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-crash-child", abstract: "Crash-test workload (used by the storage tests).",
        shouldDisplay: false)

    @Option(help: "Data directory.") var dir: String
    @Option(help: "Number of groups appending concurrently.") var groups: Int = 8
    @Option(help: "Segment size in bytes.") var segmentSize: Int = 256 << 10

    func run() throws {
        do {
            _ = try CrashWorkload.start(directory: dir, groups: groups, segmentSize: segmentSize) { line in
                let text = line + "\n"
                text.withCString { pointer in _ = Glibc.write(1, pointer, strlen(pointer)) }
            }
        } catch {
            FileHandle.standardError.write(Data("storage-crash-child: \(error)\n".utf8))
            throw ExitCode(2)
        }
        while true { sleep(3600) }
    }
}

/// Release-mode benchmark of the storage engine: raw 4 KiB append+fdatasync latency (the floor),
/// then 1, 8 and 64 groups appending 256-byte entries concurrently through group commit.
struct StorageBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-bench", abstract: "Benchmark the write-ahead log's group commit against raw fdatasync.")

    @Option(help: "Scratch directory on the disk to measure (created; contents removed).") var dir: String
    @Option(help: "Seconds per measured phase.") var seconds: Double = 4
    @Option(help: "Group counts to run, comma-separated.") var groups: String = "1,8,64"
    @Option(help: "Entry size in bytes.") var entrySize: Int = 256

    func run() throws {
        guard seconds > 0, entrySize > 0 else { throw ValidationError("--seconds and --entry-size must be positive") }
        let counts = groups.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--groups: positive integers") }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        print("storage-bench: dir \(dir), \(seconds) s per phase, \(entrySize)-byte entries, "
            + "\(ProcessInfo.processInfo.activeProcessorCount) cores")
        let floorBefore = try rawFloor(name: "raw-prealloc-before", preallocate: true)
        let growing = try rawFloor(name: "raw-append", preallocate: false)
        var rows: [Row] = [floorBefore.row, growing.row]
        for count in counts {
            rows.append(try groupCommit(groups: count))
        }
        let floorAfter = try rawFloor(name: "raw-prealloc-after", preallocate: true)
        rows.append(floorAfter.row)

        print("")
        print("| phase | writers | records/s | syncs/s | records/sync | p50 (ms) | p99 (ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row in rows { print(row.markdown) }
        let floorP99 = min(floorBefore.row.p99, floorAfter.row.p99, growing.row.p99)
        if let one = rows.first(where: { $0.phase == "group-commit" && $0.writers == 1 }),
           let many = rows.filter({ $0.phase == "group-commit" }).max(by: { $0.writers < $1.writers }) {
            let speedup = many.recordsPerSecond / max(one.recordsPerSecond, 1e-9)
            let ratio = many.p99 / max(floorP99, 1e-9)
            print("")
            print(String(format: "%d writers vs 1 (one sync per record): %.1fx durable records/s (target >= 20x): %@",
                         many.writers, speedup, speedup >= 20 ? "MET" : "NOT MET"))
            print(String(format: "%d writers p99 %.2f ms = %.2fx the lowest raw fdatasync p99 %.2f ms (target <= 3x): %@",
                         many.writers, many.p99, ratio, floorP99, ratio <= 3 ? "MET" : "NOT MET"))
        }
    }

    struct Row {
        var phase: String
        var writers: Int
        var recordsPerSecond: Double
        var syncsPerSecond: Double
        var recordsPerSync: Double
        var p50: Double
        var p99: Double

        var markdown: String {
            String(format: "| %@ | %d | %.0f | %.0f | %.1f | %.3f | %.3f |", phase, writers, recordsPerSecond,
                   syncsPerSecond, recordsPerSync, p50, p99)
        }
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    static func nowNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// 4 KiB write + fdatasync in a loop, one at a time.
    private func rawFloor(name: String, preallocate: Bool) throws -> (row: Row, latencies: [Double]) {
        let fs = POSIXFileSystem()
        let path = dir + "/\(name).dat"
        let file = try fs.open(path, create: true)
        defer {
            file.close()
            try? fs.delete(path)
        }
        if preallocate { try file.preallocate(64 << 20) }
        let block = [UInt8](repeating: 0xA5, count: 4096)
        var latencies: [Double] = []
        var offset = 0
        let start = Self.nowNanoseconds()
        let deadline = start + UInt64(seconds * 1e9)
        while Self.nowNanoseconds() < deadline && offset + block.count <= (64 << 20) {
            let t0 = Self.nowNanoseconds()
            try file.write(block, at: offset)
            try file.dataSync()
            latencies.append(Double(Self.nowNanoseconds() - t0) / 1e6)
            offset += block.count
        }
        let elapsed = Double(Self.nowNanoseconds() - start) / 1e9
        let sorted = latencies.sorted()
        let rate = Double(latencies.count) / elapsed
        return (Row(phase: name, writers: 1, recordsPerSecond: rate, syncsPerSecond: rate, recordsPerSync: 1,
                    p50: Self.percentile(sorted, 0.5), p99: Self.percentile(sorted, 0.99)), latencies)
    }

    /// `groups` writers, each with one entry in flight, through one GroupCommitLog.
    private func groupCommit(groups: Int) throws -> Row {
        let path = dir + "/engine-\(groups)"
        let engine = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: path)
        let log = GroupCommitLog(engine: engine)
        let collector = LatencyCollector()
        let data = [UInt8](repeating: 0x5A, count: entrySize)
        let stopAt = Self.nowNanoseconds() + UInt64(seconds * 1e9)
        let done = DispatchSemaphore(value: 0)
        let syncsBefore = log.statistics.syncs
        let start = Self.nowNanoseconds()
        for group in 1...GroupID(groups) {
            Self.submit(log, group: group, index: 1, data: data, stopAt: stopAt, collector: collector, done: done)
        }
        for _ in 0..<groups { done.wait() }
        let elapsed = Double(Self.nowNanoseconds() - start) / 1e9
        let syncs = log.statistics.syncs - syncsBefore
        log.close()
        try? FileManager.default.removeItem(atPath: path)
        let (latencies, failures) = collector.snapshot()
        if failures > 0 { throw ValidationError("\(failures) appends failed") }
        let sorted = latencies.sorted()
        return Row(phase: "group-commit", writers: groups, recordsPerSecond: Double(sorted.count) / elapsed,
                   syncsPerSecond: Double(syncs) / elapsed, recordsPerSync: Double(sorted.count) / Double(max(syncs, 1)),
                   p50: Self.percentile(sorted, 0.5), p99: Self.percentile(sorted, 0.99))
    }

    private static func submit(_ log: GroupCommitLog, group: GroupID, index: LogIndex, data: [UInt8], stopAt: UInt64,
                               collector: LatencyCollector, done: DispatchSemaphore) {
        let t0 = nowNanoseconds()
        guard t0 < stopAt else {
            done.signal()
            return
        }
        log.append(WriteBatch([GroupWrite(group: group, entries: [Entry(term: 1, index: index, data: data)])])) { result in
            switch result {
            case .success:
                collector.add(Double(nowNanoseconds() - t0) / 1e6)
                submit(log, group: group, index: index + 1, data: data, stopAt: stopAt, collector: collector, done: done)
            case .failure:
                collector.fail()
                done.signal()
            }
        }
    }
}

/// Thread-safe latency sink for the benchmark.
final class LatencyCollector: Sendable {
    private let state = Mutex<(latencies: [Double], failures: Int)>(([], 0))

    func add(_ milliseconds: Double) { state.withLock { $0.latencies.append(milliseconds) } }
    func fail() { state.withLock { $0.failures += 1 } }
    func snapshot() -> ([Double], Int) { state.withLock { ($0.latencies, $0.failures) } }
}
