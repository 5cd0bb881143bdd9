import AlmanacClient
import AlmanacWire
import ArgumentParser
import Foundation
import Glibc
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// `almanac bench`: a load generator for a running cluster's client API (through `AlmanacClient`).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test a running Almanac cluster through its client API.",
        discussion: """
            Closed loop (default): --clients workers, each with one operation outstanding. Open loop: \
            --rate R issues R operations per second in total on a fixed schedule, spread over the \
            workers, and measures each latency from its scheduled start (no coordinated omission). \
            Workers share --connections AlmanacClient instances (each has its own connection and \
            session per shard). Every worker works in its own directory under /bench-<run>. \
            Only operations completing inside the measured window (after --warmup, for --duration) \
            count. Latencies go into an HdrHistogram (3 significant digits). \
            Mixes: create (100% create: the counterpart of etcd's Put benchmark), create-heavy, \
            stat-heavy, mixed (a personality from real traces, see docs/benchmarks.md), or op=weight \
            pairs. The create's payload is its name (--name-bytes, default 255, the longest name). \
            Exit codes: 0 done (errors are reported, not fatal), 1 setup failed, 2 usage.
            """
    )

    @Option(help: "Work in /NAME and its worker directories w0, w1, ..., made if absent and reused by later runs (so the load falls on the same segments every run); default: a new directory per run.")
    var workspace: String?

    @Option(name: .customLong("latency-file"), help: "Also write the window's latency distribution here (\"microseconds count\" lines), to merge runs exactly.")
    var latencyFile: String?

    @Option(help: "The zone the load comes from (a zone name of the cluster): placement counts it there (docs/controller.md).")
    var zone: String?

    @Option(help: "Client endpoints, comma-separated host:port.")
    var endpoints: String = "127.0.0.1:7100"

    @Option(help: "Concurrent workers (closed loop: one outstanding operation each).")
    var clients: Int = 1

    @Option(help: "AlmanacClient instances (connections) shared by the workers; 0 = min(clients, 8).")
    var connections: Int = 0

    @Option(name: .customLong("loader-threads"), help: "Event-loop threads of the load generator (clients, connections and workers run on them).")
    var loaderThreads: Int = 1

    @Option(help: "Open loop: total operations per second (0 = closed loop).")
    var rate: Double = 0

    @Option(name: .customLong("rate-schedule"), help: "Open loop on a schedule: a file of \"SECONDS RATE\" lines (seconds from the run's start, ascending, the first at 0): the total rate from then on (instead of --rate).")
    var rateSchedule: String?

    @Option(name: .customLong("start-at"), help: "Start the run (warm-up, then the window) at this wall-clock time, in Unix seconds, after set-up; it must not have passed when set-up ends.")
    var startAt: Double?

    @Option(help: "Operation mix: create, create-heavy, stat-heavy, mixed, or op=weight,... pairs.")
    var mix: String = "create"

    @Option(help: "Measured window in seconds.")
    var duration: Double = 10

    @Option(help: "Unmeasured warm-up in seconds before the window.")
    var warmup: Double = 2

    @Option(name: .customLong("name-bytes"), help: "Length of created names in bytes (1-255); the create's payload.")
    var nameBytes: Int = 255

    @Option(name: .customLong("symlink-target-bytes"), help: "Length of the symlink operation's target in bytes (1-4096).")
    var symlinkTargetBytes: Int = 64

    @Option(name: .customLong("files-per-client"), help: "Files each worker creates before the run when the mix reads or changes files.")
    var filesPerClient: Int = 20

    @Option(help: "Write durability: majority (default), or async (weaker: acknowledged ahead of commit; 'leader' is the same).")
    var durability: String = "majority"

    @Option(help: "Read consistency: linearizable (default) or stale.")
    var consistency: String = "linearizable"

    @Option(help: "Free text copied to the JSON output.")
    var label: String = ""

    @Option(help: "Deadline of one operation in seconds, retries included (setup fails after it too).")
    var timeout: Double = 10

    @Option(help: "Seed of the operation choices.")
    var seed: UInt64 = 1

    @Option(name: .customLong("cpu-pids"), help: "Server process ids (comma-separated, this machine) whose CPU time to sample at the window's start and end.")
    var cpuPids: String = ""

    @OptionGroup var security: ClientSecurityOptions
    @Option(name: .customLong("phase-command"),
            help: "Program run (and waited for) with the argument start after setup and end after the last operation (bench/instructions.sh).")
    var phaseCommand: String = ""

    @Flag(help: "Print one JSON line (for scripts) instead of the text summary.")
    var json = false

    @Flag(name: .customLong("no-progress"), help: "No progress line, even on a terminal.")
    var noProgress = false

    func validate() throws {
        guard clients >= 1, clients <= 10_000 else { throw ValidationError("--clients must be 1...10000") }
        guard connections >= 0 else { throw ValidationError("--connections must be >= 0") }
        guard (1...64).contains(loaderThreads) else { throw ValidationError("--loader-threads must be 1...64") }
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate must be >= 0") }
        guard rateSchedule == nil || rate == 0 else { throw ValidationError("give --rate or --rate-schedule, not both") }
        if let startAt { guard startAt > 0, startAt.isFinite else { throw ValidationError("--start-at must be a positive Unix time in seconds") } }
        guard duration > 0, duration.isFinite, warmup >= 0, warmup.isFinite else {
            throw ValidationError("--duration must be > 0 and --warmup >= 0")
        }
        guard (1...255).contains(nameBytes) else { throw ValidationError("--name-bytes must be 1...255 (the name length limit)") }
        guard (1...BenchSymlinkTarget.maximumBytes).contains(symlinkTargetBytes) else {
            throw ValidationError("--symlink-target-bytes must be 1...\(BenchSymlinkTarget.maximumBytes) (the symlink target limit)")
        }
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be in (0, 3600] seconds") }
        guard filesPerClient >= 0 else { throw ValidationError("--files-per-client must be >= 0") }
        guard ["majority", "async", "leader"].contains(durability) else { throw ValidationError("--durability: majority or async") }
        guard ["linearizable", "stale"].contains(consistency) else { throw ValidationError("--consistency: linearizable or stale") }
        do { _ = try BenchMix.parse(mix) } catch { throw ValidationError(error.description) }
        guard !endpointList.isEmpty else { throw ValidationError("--endpoints: give at least one host:port") }
        guard pidList != nil else { throw ValidationError("--cpu-pids: comma-separated positive process ids") }
    }

    private var pidList: [Int32]? {
        let parts = cpuPids.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let pids = parts.compactMap { Int32($0) }.filter { $0 > 0 }
        return pids.count == parts.count ? pids : nil
    }

    private var endpointList: [String] {
        endpoints.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        var config: BenchConfiguration
        do {
            config = BenchConfiguration(
                endpoints: endpointList, clients: clients, connections: connections == 0 ? min(clients, 8) : min(connections, clients),
                rate: rate, mix: try BenchMix.parse(mix), duration: duration, warmup: warmup, nameBytes: nameBytes,
                filesPerClient: filesPerClient, durability: durability, consistency: consistency, label: label, seed: seed,
                cpuPids: pidList ?? [], timeoutMilliseconds: Int64(timeout * 1000), loaderThreads: loaderThreads,
                phaseCommand: phaseCommand)
            var tlsProbe = AlmanacClientConfiguration(endpoints: [])
            try security.apply(to: &tlsProbe)
            config.tls = tlsProbe.tls
            config.zone = zone
            config.latencyFile = latencyFile
            config.symlinkTargetBytes = symlinkTargetBytes
            config.workspace = workspace
            config.authToken = tlsProbe.authToken
            config.startAt = startAt
            if let rateSchedule {
                let text: String
                do { text = try String(contentsOfFile: rateSchedule, encoding: .utf8) } catch {
                    throw ValidationError("--rate-schedule: cannot read \(rateSchedule): \(error.localizedDescription)")
                }
                do throws(BenchScheduleError) { config.rateSchedule = try BenchRateSchedule(parsing: text) } catch {
                    throw ValidationError("--rate-schedule \(rateSchedule): \(error.description)")
                }
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
        let showProgress = !noProgress && isatty(STDERR_FILENO) == 1
        let report: BenchReport
        do {
            report = try await BenchRunner(configuration: config, showProgress: showProgress).run()
        } catch {
            FileHandle.standardError.write(Data("almanac bench: \(error)\n".utf8))
            throw ExitCode.failure
        }
        print(json ? try report.jsonLine() : report.text)
    }
}

/// Validated settings of one run.
struct BenchConfiguration: Sendable {
    var endpoints: [String]
    var clients: Int
    var connections: Int
    var rate: Double
    var mix: BenchMix
    var duration: Double
    var warmup: Double
    var nameBytes: Int
    /// Length of the symlink operation's target.
    var symlinkTargetBytes: Int = 64
    var filesPerClient: Int
    var durability: String
    var consistency: String
    var label: String
    var seed: UInt64
    /// Server processes whose CPU time is sampled over the measured window.
    var cpuPids: [Int32] = []
    /// Deadline of one operation, retries included.
    var timeoutMilliseconds: Int64 = 10_000
    /// Event-loop threads the clients, their connections and the workers run on.
    var loaderThreads: Int = 1
    /// TLS to the nodes (`--ca`/`ALMANAC_CA`); nil: plaintext.
    var tls: NIOSSLContext? = nil
    /// See ``BenchPhaseCommand``; empty: none.
    var phaseCommand: String = ""
    /// The clients' zone (`Request.client_zone`); nil: unsaid.
    var zone: String? = nil
    /// Where the latency distribution goes (nil: nowhere).
    var latencyFile: String? = nil
    /// A reused run directory in the root (nil: a new one per run).
    var workspace: String? = nil
    /// Access token (`--token`/`ALMANAC_TOKEN`) for clusters that check tokens.
    var authToken: String? = nil
    /// Open loop on a changing rate (`--rate-schedule`); nil: `rate` (0 = closed loop).
    var rateSchedule: BenchRateSchedule? = nil
    /// Wall-clock start of the run, Unix seconds (`--start-at`); nil: right after set-up.
    var startAt: Double? = nil

    /// How workers pace their operations: a schedule (a fixed rate is a one-step one), or none.
    var openLoopSchedule: BenchRateSchedule? {
        if let rateSchedule { return rateSchedule }
        guard rate > 0 else { return nil }
        return try? BenchRateSchedule(steps: [.init(offsetSeconds: 0, rate: rate)])
    }
}

/// Operations completed so far, for the progress line (the histograms stay worker-local).
final class BenchCounters: Sendable {
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
}

/// Sets up the directories, runs the workers, merges their histograms.
struct BenchRunner {
    let configuration: BenchConfiguration
    let showProgress: Bool

    func run() async throws -> BenchReport {
        let c = configuration
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: max(1, c.loaderThreads))
        // Each client stays on one loop; its workers run there too (see BenchEventLoopExecutor).
        let executors = (0..<c.connections).map { _ in BenchEventLoopExecutor(loops.next()) }
        let clients = executors.enumerated().map { index, executor in
            var clientConfiguration = AlmanacClientConfiguration(
                endpoints: c.endpoints, attemptTimeout: .milliseconds(min(c.timeoutMilliseconds, 5000)),
                operationTimeout: .milliseconds(c.timeoutMilliseconds), connectTimeout: .milliseconds(min(c.timeoutMilliseconds, 2000)),
                durability: c.durability == "majority" ? .majority : .leader,
                consistency: c.consistency == "stale" ? .stale : .linearizable, clientName: "almanac-bench-\(index)")
            clientConfiguration.tls = c.tls
            clientConfiguration.zone = c.zone
            clientConfiguration.authToken = c.authToken
            return AlmanacClient(configuration: clientConfiguration, group: executor.eventLoop)
        }
        var outcome: Result<BenchReport, any Error>
        do {
            outcome = .success(try await measure(clients: clients, executors: executors))
        } catch {
            outcome = .failure(error)
        }
        if c.durability != "majority", case .success(var report) = outcome {
            var unconfirmed = 0, replayed = 0, changed = 0
            for client in clients {
                await client.waitUntilDurable()
                unconfirmed += await client.unconfirmedWriteCount
                replayed += await client.replayedWrites
                changed += await client.replayedWritesChanged
            }
            report.unconfirmed_after_wait = unconfirmed
            report.replayed_writes = replayed
            report.replayed_writes_changed = changed
            outcome = .success(report)
        }
        for client in clients { await client.shutdown() }
        try? await loops.shutdownGracefully()
        return try outcome.get()
    }

    private func measure(clients: [AlmanacClient], executors: [BenchEventLoopExecutor]) async throws -> BenchReport {
        let c = configuration
        // Setup (not measured): a run directory in the root, one directory per worker, optional files.
        let runTag = "\(getpid())-\(Int(Date().timeIntervalSince1970))"
        let runName = c.workspace.map(Self.sanitized) ?? "bench-\(runTag)" + (c.label.isEmpty ? "" : "-" + Self.sanitized(c.label))
        let runDirectory: UInt64
        do {
            runDirectory = try await BenchWorker.directory(named: runName, in: rootInode, client: clients[0], reuse: c.workspace != nil)
        } catch {
            throw BenchSetupError(message: "cannot create /\(runName) on \(c.endpoints.joined(separator: ",")): \(error)")
        }
        var workers: [BenchWorker] = []
        for index in 0..<c.clients {
            workers.append(BenchWorker(
                index: index, client: clients[index % clients.count], executor: executors[index % clients.count], directory: 0,
                names: BenchNames(length: c.nameBytes, worker: index, run: c.workspace == nil ? nil : runTag),
                symlinkTarget: BenchSymlinkTarget(length: c.symlinkTargetBytes, worker: index),
                random: SplitMix64(seed: c.seed &+ UInt64(index) &* 0x1000_0001), keepsFiles: c.mix.needsPopulatedFiles, reusesDirectory: c.workspace != nil))
        }
        try await withThrowingTaskGroup(of: (Int, BenchWorker).self) { group in
            for worker in workers {
                group.addTask(executorPreference: worker.executor) {
                    var worker = worker
                    try await worker.prepare(runDirectory: runDirectory, files: c.mix.needsPopulatedFiles ? c.filesPerClient : 0)
                    return (worker.index, worker)
                }
            }
            for try await (index, worker) in group { workers[index] = worker }
        }

        // Measured run.
        if let startAt = c.startAt {
            let wait = startAt - Date().timeIntervalSince1970
            guard wait >= 0 else {
                throw BenchSetupError(message: "--start-at \(startAt) passed \(String(format: "%.1f", -wait)) s before set-up ended; give a later time")
            }
            try? await Task.sleep(for: .seconds(wait))
        }
        try await BenchPhaseCommand.run(c.phaseCommand, phase: "start")
        let counters = BenchCounters()
        let clock = ContinuousClock()
        let start = clock.now
        let windowStart = start + .seconds(c.warmup)
        let windowEnd = windowStart + .seconds(c.duration)
        let cpuBefore = Self.processCPUSeconds()
        let progress: Task<Void, Never>? = showProgress ? Task {
            await Self.showProgress(counters: counters, start: start, windowStart: windowStart, windowEnd: windowEnd)
        } : nil
        // This process's CPU inside the window only (setup, warm-up and a slow tail excluded).
        let loaderWindowCPU = Task<Double, Never> {
            try? await Task.sleep(until: windowStart, clock: clock)
            let before = Self.processCPUSeconds()
            try? await Task.sleep(until: windowEnd, clock: clock)
            return Self.processCPUSeconds() - before
        }
        // The servers' CPU seconds and context switches inside the window.
        let serverCPU: Task<(seconds: Double, switches: UInt64?)?, Never>? = c.cpuPids.isEmpty ? nil : Task {
            try? await Task.sleep(until: windowStart, clock: clock)
            let switchesBefore = ProcessContextSwitches.count(of: c.cpuPids)
            guard let before = ProcessCPU.seconds(of: c.cpuPids) else { return nil }
            try? await Task.sleep(until: windowEnd, clock: clock)
            guard let after = ProcessCPU.seconds(of: c.cpuPids) else { return nil }
            let switchesAfter = ProcessContextSwitches.count(of: c.cpuPids)
            let switches = switchesBefore.flatMap { b in switchesAfter.map { $0 >= b ? $0 - b : 0 } }
            return (after - before, switches)
        }
        let schedule = c.openLoopSchedule
        var merged = BenchLatencies()
        await withTaskGroup(of: BenchLatencies.self) { group in
            for worker in workers {
                group.addTask(executorPreference: worker.executor) {
                    var worker = worker
                    return await worker.run(
                        on: worker.client, mix: c.mix, clock: clock, start: start, windowStart: windowStart, windowEnd: windowEnd,
                        schedule: schedule, workers: c.clients, counters: counters)
                }
            }
            for await latencies in group { merged.merge(latencies) }
        }
        let elapsed = clock.now - start
        let cpu = Self.processCPUSeconds() - cpuBefore
        try await BenchPhaseCommand.run(c.phaseCommand, phase: "end")
        progress?.cancel()
        await progress?.value
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var report = BenchReport(configuration: c, latencies: merged, windowSeconds: c.duration, loaderCPUCores: cpu / max(seconds, 1e-9))
        if let file = c.latencyFile {
            do {
                try BenchReport.distribution(merged).write(toFile: file, atomically: true, encoding: .utf8)
            } catch {
                throw BenchSetupError(message: "cannot write the latency file \(file): \(error)")
            }
        }
        let loaderSeconds = await loaderWindowCPU.value
        report.loader_cpu_window_s = loaderSeconds
        report.ops_all = UInt64(counters.completed.load(ordering: .relaxed))
        report.loader_cpu_s_per_1000_ops = report.ops > 0 ? loaderSeconds / Double(report.ops) * 1000 : nil
        if let server = await serverCPU?.value {
            report.server_cpu_s = server.seconds
            report.server_cpu_s_per_1000_ops = report.ops > 0 ? server.seconds / Double(report.ops) * 1000 : nil
            report.server_context_switches_per_op = server.switches.flatMap { report.ops > 0 ? Double($0) / Double(report.ops) : nil }
        }
        return report
    }

    private static func sanitized(_ text: String) -> String {
        String(text.unicodeScalars.prefix(60).map { CharacterSet.alphanumerics.contains($0) || $0 == "-" ? Character($0) : "_" })
    }

    /// User + system CPU seconds of this process (getrusage).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    private static func showProgress(
        counters: BenchCounters, start: ContinuousClock.Instant, windowStart: ContinuousClock.Instant, windowEnd: ContinuousClock.Instant
    ) async {
        let clock = ContinuousClock()
        var lastCount = 0
        var lastTime = start
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            if Task.isCancelled { return }
            let now = clock.now
            let count = counters.completed.load(ordering: .relaxed)
            let failed = counters.failed.load(ordering: .relaxed)
            let span = now - lastTime
            let spanSeconds = Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18
            let rate = Double(count - lastCount) / max(spanSeconds, 1e-9)
            lastCount = count
            lastTime = now
            let phase: String
            if now < windowStart {
                phase = "warm-up " + Self.seconds(windowStart - now) + " s left"
            } else {
                phase = "measuring " + Self.seconds(max(.zero, windowEnd - now)) + " s left"
            }
            let line = "\r\u{1B}[K" + phase + String(format: "  %.0f ops/s", rate) + "  \(count) ops  \(failed) errors"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}

/// Setup failed (no cluster, no root, ...).
struct BenchSetupError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// One simulated client: its own directory, names, random stream and files. It runs on its client's
/// event loop, and its measured loop is isolated to the client, so an operation costs no executor
/// hop and no thread wake-up: the load generator shares the machine with the servers it measures.
struct BenchWorker: Sendable {
    let index: Int
    let client: AlmanacClient
    /// The client's event loop, where the worker runs.
    let executor: BenchEventLoopExecutor
    var directory: UInt64
    let names: BenchNames
    let symlinkTarget: BenchSymlinkTarget
    var random: SplitMix64
    /// Whether to remember created files (the mix reads, changes or removes them).
    let keepsFiles: Bool
    /// Whether the worker directory may exist already (`--workspace`).
    let reusesDirectory: Bool
    var nextSequence = 0
    /// (inode, name sequence) of files this worker created and has not removed.
    var files: [(inode: UInt64, sequence: Int)] = []

    init(
        index: Int, client: AlmanacClient, executor: BenchEventLoopExecutor, directory: UInt64, names: BenchNames,
        symlinkTarget: BenchSymlinkTarget = BenchSymlinkTarget(length: 64, worker: 0), random: SplitMix64, keepsFiles: Bool,
        reusesDirectory: Bool = false
    ) {
        self.symlinkTarget = symlinkTarget
        self.reusesDirectory = reusesDirectory
        self.index = index
        self.client = client
        self.executor = executor
        self.directory = directory
        self.names = names
        self.random = random
        self.keepsFiles = keepsFiles
    }

    /// A directory `name` in `parent`: made, or (with `reuse`) the existing one, looked up first
    /// (a lookup is one read; a mkdir that finds the name taken may be a cross-shard transaction).
    static func directory(named name: String, in parent: UInt64, client: AlmanacClient, reuse: Bool) async throws(AlmanacClientError) -> UInt64 {
        if reuse, let existing = try? await client.lookup(parent: parent, name: name) { return existing.inode }
        do {
            return try await client.mkdir(parent: parent, name: name).inode
        } catch where reuse && error.code == .eexist {
            return try await client.lookup(parent: parent, name: name).inode
        }
    }

    mutating func prepare(runDirectory: UInt64, files count: Int) async throws {
        do {
            directory = try await Self.directory(named: "w\(index)", in: runDirectory, client: client, reuse: reusesDirectory)
            for _ in 0..<count { try await create(on: client) }
        } catch {
            throw BenchSetupError(message: "worker \(index) setup: \(error)")
        }
    }

    private mutating func create(on client: isolated AlmanacClient) async throws(AlmanacClientError) {
        let sequence = nextSequence
        nextSequence += 1
        let attributes = try await client.create(parent: directory, name: names.name(sequence))
        if keepsFiles { files.append((attributes.inode, sequence)) }
    }

    private mutating func randomFile() -> Int? {
        files.isEmpty ? nil : Int(random.next() % UInt64(files.count))
    }

    /// Executes one operation of kind `operation` (falling back to create when it needs a file and
    /// there is none to spare). Returns the operation actually executed.
    mutating func execute(_ operation: BenchOperation, on client: isolated AlmanacClient) async throws(AlmanacClientError) -> BenchOperation {
        switch operation {
        case .create:
            try await create(on: client)
        case .getattr:
            if let i = randomFile() { _ = try await client.getattr(files[i].inode) } else { _ = try await client.getattr(directory) }
        case .lookup:
            guard let i = randomFile() else { try await create(on: client); return .create }
            _ = try await client.lookup(parent: directory, name: names.name(files[i].sequence))
        case .readdir:
            _ = try await client.readdirPage(directory, limit: 32)
        case .setattr:
            guard let i = randomFile() else { try await create(on: client); return .create }
            _ = try await client.setattr(files[i].inode, AttributeChanges(mode: random.next() & 1 == 0 ? 0o600 : 0o644))
        case .unlink:
            guard files.count > 1, let i = randomFile() else { try await create(on: client); return .create }
            let victim = files[i]
            files[i] = files[files.count - 1]
            files.removeLast()
            try await client.unlink(parent: directory, name: names.name(victim.sequence))
        case .mkdir:
            let sequence = nextSequence
            nextSequence += 1
            _ = try await client.mkdir(parent: directory, name: names.name(sequence))
        case .symlink:
            let sequence = nextSequence
            nextSequence += 1
            _ = try await client.symlink(parent: directory, name: names.name(sequence), target: symlinkTarget.text)
        case .rename:
            guard let i = randomFile() else { try await create(on: client); return .create }
            let sequence = nextSequence
            nextSequence += 1
            try await client.rename(parent: directory, name: names.name(files[i].sequence), newParent: directory, newName: names.name(sequence))
            files[i].sequence = sequence
        }
        return operation
    }

    /// The worker's loop until `windowEnd`, isolated to `client` (the worker's own client). Closed
    /// loop when `schedule` is nil; otherwise the run's operations k * workers + index (k = 0,
    /// 1, ...) at the schedule's due times from `start`, latency measured from them.
    mutating func run(
        on client: isolated AlmanacClient, mix: BenchMix, clock: ContinuousClock, start: ContinuousClock.Instant, windowStart: ContinuousClock.Instant,
        windowEnd: ContinuousClock.Instant, schedule: BenchRateSchedule?, workers: Int, counters: BenchCounters
    ) async -> BenchLatencies {
        var latencies = BenchLatencies()
        var tick = 0
        let total = mix.totalWeight
        while true {
            var begin = clock.now
            if let schedule {
                guard let seconds = schedule.dueSeconds(ofOperation: Double(tick * workers + index)) else { break }
                let due = start + .seconds(seconds)
                tick += 1
                if due >= windowEnd { break }
                if due > begin { try? await Task.sleep(until: due, clock: clock) }
                begin = due
            } else if begin >= windowEnd {
                break
            }
            let chosen = mix.operation(forDraw: Int(random.next() % UInt64(total)))
            let outcome: Result<BenchOperation, AlmanacClientError>
            do throws(AlmanacClientError) {
                outcome = .success(try await execute(chosen, on: client))
            } catch {
                outcome = .failure(error)
            }
            let end = clock.now
            let inWindow = end >= windowStart && end <= windowEnd
            switch outcome {
            case .success(let executed):
                counters.completed.add(1, ordering: .relaxed)
                if inWindow {
                    let elapsed = end - begin
                    let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
                    latencies.record(executed, microseconds: UInt64(max(0, micros)))
                }
            case .failure(let error):
                counters.failed.add(1, ordering: .relaxed)
                if inWindow { latencies.recordError(error.code == .ok ? "\(error.kind)" : error.codeName) }
                // A cluster-level failure would otherwise spin; pause briefly.
                if error.isClusterUnavailable { try? await Task.sleep(for: .milliseconds(10)) }
            }
        }
        return latencies
    }
}

/// CPU time of other processes, from /proc/<pid>/stat (utime + stime).
enum ProcessCPU {
    /// Total user + system seconds of `pids`, or nil if one cannot be read.
    static func seconds(of pids: [Int32]) -> Double? {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var total = 0.0
        for pid in pids {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let fields = parseStat(text) else { return nil }
            total += Double(fields.utime + fields.stime) / max(ticks, 1)
        }
        return total
    }

    /// utime and stime (clock ticks) of a /proc/<pid>/stat line. The command name (field 2) may
    /// contain spaces and parentheses, so fields are counted after its last ')'.
    static func parseStat(_ line: String) -> (utime: UInt64, stime: UInt64)? {
        guard let close = line.lastIndex(of: ")") else { return nil }
        let rest = line[line.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state); utime is field 14, stime field 15.
        guard rest.count > 12, let utime = UInt64(rest[11]), let stime = UInt64(rest[12]) else { return nil }
        return (utime, stime)
    }
}

/// `almanac bench --phase-command PROGRAM`: runs PROGRAM with the argument `start` once setup is
/// done (before the first operation of the run) and `end` after the last operation completed, and
/// waits for it each time. bench/instructions.sh uses it to zero and dump the servers' callgrind
/// counters around exactly the operations it counts.
enum BenchPhaseCommand {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(_ program: String, phase: String) async throws {
        guard !program.isEmpty else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = [phase]
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: Failure(description: "--phase-command \(program): \(error)"))
            }
        }
        guard status == 0 else { throw Failure(description: "--phase-command \(program) \(phase) exited with \(status)") }
    }
}
