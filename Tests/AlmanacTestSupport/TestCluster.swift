import AlmanacClient
import AlmanacWire
import AlmanacKeyspace
import AlmanacNode
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Real `almanac serve` processes on loopback (ephemeral ports, a temporary data directory), three
/// by default, one per zone, that tests can SIGKILL and restart.
public final class TestCluster: Sendable {
    public let root: String
    public let members: [ClusterMember]
    public let binary: String
    public let shards: Int
    /// Extra `almanac serve` arguments for every node.
    public let extraArguments: [String]
    private let processes = Mutex<[UInt64: Process]>([:])

    public static let zones = ["zone-a", "zone-b", "zone-c"]

    /// Starts the nodes (3 by default; node i is in zone i mod 3) and waits until each serves.
    public static func start(name: String, shards: Int = 2, nodes: Int = 3, snapshotEvery: UInt64 = 100,
                             extraArguments: [String] = []) async throws -> TestCluster {
        let binary = try locateBinary()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-it-\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let ports = try freePorts(count: 2 * nodes)
        let members = (0..<nodes).map { i in
            ClusterMember(id: UInt64(i + 1), zone: zones[i % zones.count], peerAddress: "127.0.0.1:\(ports[i])",
                          apiAddress: "127.0.0.1:\(ports[i + nodes])")
        }
        for member in members {
            let config = NodeConfigFile(id: member.id, zone: member.zone, dataDirectory: "\(root)/node\(member.id)",
                                        shards: shards, clusterID: "it-\(name)", members: members,
                                        snapshotEveryEntries: snapshotEvery, snapshotChunkBytes: 4096)
            try config.encoded().write(to: URL(fileURLWithPath: "\(root)/node\(member.id).json"))
        }
        let cluster = TestCluster(root: root, members: members, binary: binary, shards: shards, extraArguments: extraArguments)
        for member in members { try cluster.launch(member.id) }
        for member in members { try await cluster.waitReady(member.id) }
        return cluster
    }

    private init(root: String, members: [ClusterMember], binary: String, shards: Int, extraArguments: [String]) {
        self.extraArguments = extraArguments
        self.root = root
        self.members = members
        self.binary = binary
        self.shards = shards
    }

    public var endpoints: [String] { members.map(\.apiAddress) }

    public func member(_ id: UInt64) -> ClusterMember { members[Int(id) - 1] }

    public func logPath(_ id: UInt64) -> String { "\(root)/node\(id).log" }

    /// Starts node `id` (appending to its log).
    public func launch(_ id: UInt64) throws {
        let log = logPath(id)
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: log) else { throw ClusterError("cannot open \(log)") }
        handle.seekToEndOfFile()
        handle.write(Data("=== launch \(Date()) ===\n".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        // Plaintext unless the test gives TLS files (serve needs one or the other).
        let security = extraArguments.contains("--tls-cert") ? [] : ["--insecure"]
        process.arguments = ["serve", "--config", "\(root)/node\(id).json", "--log-level", "info"] + security + extraArguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        processes.withLock { $0[id] = process }
    }

    /// Waits until node `id`'s latest launch printed its ready line.
    public func waitReady(_ id: UInt64, timeout: Duration = .seconds(30)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            let text = (try? String(contentsOfFile: logPath(id), encoding: .utf8)) ?? ""
            if let launch = text.range(of: "=== launch", options: .backwards), text[launch.lowerBound...].contains("ready: api=") { return }
            if let process = processes.withLock({ $0[id] }), !process.isRunning {
                throw ClusterError("node \(id) exited with status \(process.terminationStatus) during start-up:\n\(tail(id))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ClusterError("node \(id) not ready within \(timeout):\n\(tail(id))")
    }

    /// SIGKILL: no shutdown path runs, unsynced data is lost exactly as in a crash.
    public func kill(_ id: UInt64) {
        guard let process = processes.withLock({ $0.removeValue(forKey: id) }) else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends `signal` (e.g. SIGSTOP/SIGCONT) to node `id`'s process; false if it is not running.
    @discardableResult
    public func signal(_ id: UInt64, _ signal: Int32) -> Bool {
        guard let process = processes.withLock({ $0[id] }), process.isRunning else { return false }
        return Glibc.kill(process.processIdentifier, signal) == 0
    }

    /// Node `id`'s process while it runs (nil once it exited or was killed).
    public func process(_ id: UInt64) -> Process? { processes.withLock { $0[id] } }

    public func restart(_ id: UInt64) async throws {
        try launch(id)
        try await waitReady(id)
    }

    /// SIGTERM to every node, SIGKILL after 10 s; removes the data unless ALMANAC_KEEP_TEST_DATA is set.
    public func shutdown() {
        let all = processes.withLock { current in
            defer { current.removeAll() }
            return Array(current.values)
        }
        for process in all where process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(10)
        while all.contains(where: \.isRunning) && Date() < deadline { usleep(20_000) }
        for process in all where process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        for process in all { process.waitUntilExit() }
        if ProcessInfo.processInfo.environment["ALMANAC_KEEP_TEST_DATA"] == nil {
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    public func tail(_ id: UInt64, lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logPath(id), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// A client of the whole cluster (follows redirects, retries with its session's sequence numbers).
    public func client(operationTimeout: Int64 = 30, durability: Almanac_Api_V1_Durability = .majority) -> AlmanacClient {
        AlmanacClient(configuration: AlmanacClientConfiguration(
            endpoints: endpoints, attemptTimeout: .seconds(3), operationTimeout: .seconds(operationTimeout),
            durability: durability, clientName: "integration-test"))
    }

    /// A client that reads node `id`'s own replica (stale reads, no redirects needed).
    public func staleClient(_ id: UInt64) -> AlmanacClient {
        AlmanacClient(configuration: AlmanacClientConfiguration(
            endpoints: [member(id).apiAddress], attemptTimeout: .seconds(2), operationTimeout: .seconds(4),
            consistency: .stale, clientName: "integration-test-stale"))
    }

    // MARK: Locating the binary, ports

    /// The `almanac` executable next to the test bundle in the build products directory
    /// (or $ALMANAC_BINARY).
    public static func locateBinary() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["ALMANAC_BINARY"] { return explicit }
        var candidates: [String] = []
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        var directory = argv0.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent("almanac").path)
            directory = directory.deletingLastPathComponent()
        }
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root = root.deletingLastPathComponent() }
        candidates.append(root.appendingPathComponent(".build/debug/almanac").path)
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw ClusterError("the almanac executable was not found (looked at \(candidates)); run `swift build` first or set ALMANAC_BINARY")
    }

    /// Ports the kernel hands out for port 0, released again for the nodes to bind.
    public static func freePorts(count: Int) throws -> [Int] {
        do { return try FreePorts.loopback(count: count) } catch { throw ClusterError("\(error)") }
    }
}

public struct ClusterError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
