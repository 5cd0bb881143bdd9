import AlmanacClient
import AlmanacPredict
import AlmanacWire
import ArgumentParser
import NIOCore
import Foundation
import Histogram

/// `almanac replay TRACE`: replays an strace trace against a running cluster as real client
/// traffic (docs/prediction.md, "Replay"): one client session per traced process, each stream in
/// its original order, streams concurrent; the namespace is created first; ENOENT failures of the
/// trace are reproduced. Reports per-operation latency, total time and the cluster's prefetching
/// counters over the run.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Replay an strace trace (directory or .tar.gz) against a running cluster.")

    @Argument(help: "Trace: a directory of PREFIX.<pid> files (strace -ff -tt) or a .tar.gz of one.")
    var trace: String

    @OptionGroup var options: CtlOptions

    @Option(help: "Almanac directory under which the run's sandbox is created (absolute, no '..').")
    var sandbox: String = "/replay"

    @Option(help: "Replay only the first N events (1...10000000).")
    var limit: Int?

    @Option(name: .customLong("setup-concurrency"), help: "Parallel creates while building the namespace (1...256).")
    var setupConcurrency: Int = 16

    @Option(help: "Write durability: majority (default) or async (acknowledged ahead of commit; docs/node.md).")
    var durability: String = "majority"

    @Flag(name: .customLong("no-progress"), help: "No progress bar, even on a terminal.")
    var noProgress = false

    func validate() throws {
        try options.validate()
        if let limit, !(1...10_000_000).contains(limit) { throw ValidationError("--limit must be in 1...10000000") }
        guard (1...256).contains(setupConcurrency) else { throw ValidationError("--setup-concurrency must be in 1...256") }
        guard ["majority", "async"].contains(durability) else { throw ValidationError("--durability: majority or async") }
        guard sandbox.hasPrefix("/") else { throw ValidationError("--sandbox must be an absolute path") }
        do { _ = try ReplayPlan.components(sandbox) } catch { throw ValidationError("--sandbox: \(error)") }
    }

    func run() async throws {
        let processes = try TraceArchive.load(trace)
        guard !processes.isEmpty else { throw ValidationError("\(trace): no PREFIX.<pid> files (strace -ff output)") }
        let plan: ReplayPlan
        do {
            plan = try ReplayPlan.build(OpTrace.build(processes: processes), limit: limit)
        } catch {
            throw ValidationError("\(trace): \(error)")
        }
        let endpoints = try options.endpointList()
        let timeout = TimeAmount.milliseconds(Int64(options.timeout * 1000))
        let control = AlmanacClient(configuration: Self.clientConfiguration(endpoints, timeout, "almanac-replay"))
        defer { Task { await control.shutdown() } }
        guard let status = try? await control.status() else {
            throw ValidationError("cannot reach the cluster at \(endpoints.joined(separator: ","))")
        }
        let nodes = status.nodes
        let before = await PrefetchStatusReport.collect(nodes: nodes)

        // The namespace, parents first.
        let runName = "run-\(Int(Date().timeIntervalSince1970 * 1000))-\(getpid())"
        let root = try await Self.makeDirectories(control, sandbox: try ReplayPlan.components(sandbox) + [runName])
        let setupStart = DispatchTime.now().uptimeNanoseconds
        let inodes = ReplayInodes(root: root)
        try await Self.createNamespace(plan, control: control, inodes: inodes, width: setupConcurrency)
        let setupSeconds = Double(DispatchTime.now().uptimeNanoseconds - setupStart) / 1e9

        // The streams.
        let stats = ReplayStats()
        let showProgress = !noProgress && !options.json && isatty(STDERR_FILENO) == 1
        let progress: Task<Void, Never>? = showProgress ? Task {
            while !Task.isCancelled {
                let done = await stats.completed
                let width = 40
                let filled = plan.events.isEmpty ? width : width * done / plan.events.count
                FileHandle.standardError.write(Data("\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(done)/\(plan.events.count) events".utf8))
                try? await Task.sleep(nanoseconds: 200_000_000)
            }
        } : nil
        let start = DispatchTime.now().uptimeNanoseconds
        var streams: [UInt32: ReplayStream] = [:]
        var running: [UInt32: Task<Void, Never>] = [:]
        for (index, event) in plan.events.enumerated() {
            // Events start in the trace's global order; a stream's next event waits for its previous one.
            await running[event.stream]?.value
            let stream: ReplayStream
            if let known = streams[event.stream] {
                stream = known
            } else {
                stream = ReplayStream(client: AlmanacClient(configuration: Self.clientConfiguration(
                    endpoints, timeout, "replay-\(event.stream)", async: durability == "async")),
                                      plan: plan, inodes: inodes, stats: stats)
                streams[event.stream] = stream
            }
            let last = plan.lastEvent[event.stream] == index
            running[event.stream] = Task {
                await stream.run(event)
                if last {
                    await stream.client.waitUntilDurable()
                    await stream.client.shutdown()
                }
            }
        }
        for task in running.values { await task.value }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        progress?.cancel()
        await progress?.value
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }

        let after = await PrefetchStatusReport.collect(nodes: nodes)
        let report = await ReplayReport(trace: trace, plan: plan, stats: stats, seconds: seconds, setupSeconds: setupSeconds,
                                        streams: streams.count, before: before, after: after)
        print(options.json ? report.json() : report.text())
    }

    /// A stream's client: one write at a time (a stream is sequential), except that async writes
    /// keep their sequence numbers reserved until known durable (docs/node.md), so those get the
    /// default window instead of waiting for each one's commit.
    static func clientConfiguration(_ endpoints: [String], _ timeout: TimeAmount, _ name: String, async: Bool = false) -> AlmanacClientConfiguration {
        var configuration = AlmanacClientConfiguration(
            endpoints: endpoints, operationTimeout: timeout, durability: async ? .leader : .majority, clientName: name, hedgeDelay: nil)
        if !async { configuration.maxInFlightWritesPerSession = 1 }
        return configuration
    }

    /// mkdir -p of `path` below the root; returns the last directory's inode.
    static func makeDirectories(_ client: AlmanacClient, sandbox path: [String]) async throws -> UInt64 {
        var parent = rootInode
        for name in path {
            let made = try? await client.mkdir(parent: parent, name: name)
            if let made {
                parent = made.inode
            } else {
                parent = try await client.lookup(parent: parent, name: name).inode
            }
        }
        return parent
    }

    /// Creates the plan's setup entries, one depth level at a time, `width` at once.
    static func createNamespace(_ plan: ReplayPlan, control: AlmanacClient, inodes: ReplayInodes, width: Int) async throws {
        let levels = Dictionary(grouping: plan.setup, by: { $0.path.count })
        for depth in levels.keys.sorted() {
            let entries = levels[depth] ?? []
            var next = 0
            while next < entries.count {
                let batch = entries[next..<min(entries.count, next + width)]
                next += width
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for entry in batch {
                        group.addTask {
                            guard let parent = await inodes.inode(of: Array(entry.path.dropLast())), let name = entry.path.last else { return }
                            let attributes: FileAttributes
                            switch entry.kind {
                            case .directory: attributes = try await control.mkdir(parent: parent, name: name)
                            case .file: attributes = try await control.create(parent: parent, name: name)
                            case .symlink: attributes = try await control.symlink(parent: parent, name: name, target: "replay-target")
                            }
                            await inodes.set(entry.path, attributes.inode)
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}

/// Path (components below the run's sandbox) -> inode, shared by the streams.
actor ReplayInodes {
    private var table: [[String]: UInt64]

    init(root: UInt64) { table = [[]: root] }

    func inode(of path: [String]) -> UInt64? { table[path] }
    func set(_ path: [String], _ inode: UInt64) { table[path] = inode }
    func remove(_ path: [String]) { table.removeValue(forKey: path) }
}
