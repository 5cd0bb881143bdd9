import AlmanacTestSupport
import AlmanacShardMap
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real 3-member etcd cluster on loopback: random free ports, a temporary data directory per
/// member, processes that tests can SIGKILL and restart. `shutdown()` kills them and removes the data.
final class EtcdTestCluster: Sendable {
    struct Member: Sendable {
        let name: String
        let clientPort: Int
        let peerPort: Int
        var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
    }

    let binary: String
    let root: String
    let members: [Member]
    private let processes = Mutex<[Int: Process]>([:])

    /// `etcd` on PATH (or $ETCD_BINARY), nil if absent.
    static func locateBinary() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["ETCD_BINARY"], FileManager.default.isExecutableFile(atPath: explicit) { return explicit }
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/etcd"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The `etcd://` URL of all members.
    var url: String { "etcd://" + members.map { "127.0.0.1:\($0.clientPort)" }.joined(separator: ",") }

    /// Starts three members and returns once the cluster has a leader and serves (`waitHealthy`).
    static func start() async throws -> EtcdTestCluster {
        guard let binary = locateBinary() else { throw EtcdTestError("etcd is not installed") }
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("almanac-etcd-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let ports = try freePorts(count: 6)
        let members = (0..<3).map { Member(name: "m\($0 + 1)", clientPort: ports[$0], peerPort: ports[$0 + 3]) }
        let cluster = EtcdTestCluster(binary: binary, root: root, members: members)
        do {
            for index in members.indices { try cluster.launch(index) }
            try await cluster.waitHealthy(members.indices)
        } catch {
            cluster.shutdown()
            throw error
        }
        return cluster
    }

    private init(binary: String, root: String, members: [Member]) {
        self.binary = binary
        self.root = root
        self.members = members
    }

    func logPath(_ index: Int) -> String { "\(root)/\(members[index].name).log" }

    /// Starts member `index` (a restart reuses its data directory and rejoins).
    func launch(_ index: Int) throws {
        let member = members[index]
        let log = logPath(index)
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: log) else { throw EtcdTestError("cannot open \(log)") }
        handle.seekToEndOfFile()
        handle.write(Data("=== launch \(Date()) ===\n".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--name", member.name,
            "--data-dir", "\(root)/\(member.name).etcd",
            "--listen-client-urls", member.clientURL,
            "--advertise-client-urls", member.clientURL,
            "--listen-peer-urls", member.peerURL,
            "--initial-advertise-peer-urls", member.peerURL,
            "--initial-cluster", members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ","),
            "--initial-cluster-token", URL(fileURLWithPath: root).lastPathComponent,
            "--initial-cluster-state", "new",
            "--heartbeat-interval", "100",
            "--election-timeout", "1000",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        processes.withLock { $0[index] = process }
    }

    /// SIGKILL: the member stops without any shutdown path, as in a crash.
    func kill(_ index: Int) {
        guard let process = processes.withLock({ $0.removeValue(forKey: index) }) else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGSTOP: the member keeps its sockets open but answers nothing (a hung process, or a
    /// partition that drops packets instead of resetting connections).
    func freeze(_ index: Int) {
        guard let process = processes.withLock({ $0[index] }) else { return }
        Glibc.kill(process.processIdentifier, SIGSTOP)
    }

    /// SIGCONT: undoes ``freeze(_:)``.
    func thaw(_ index: Int) {
        guard let process = processes.withLock({ $0[index] }) else { return }
        Glibc.kill(process.processIdentifier, SIGCONT)
    }

    var running: [Int] { processes.withLock { Array($0.keys).sorted() } }

    /// Restarts every member that is not running and waits until all are healthy.
    func restartStopped() async throws {
        let stopped = members.indices.filter { !running.contains($0) }
        for index in stopped { try launch(index) }
        try await waitHealthy(members.indices)
    }

    /// Waits until each member in `indices` answers /health with `true` (it has a leader).
    func waitHealthy(_ indices: Range<Int>, timeout: Duration = .seconds(20)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        for index in indices {
            while true {
                if try await isHealthy(index) { break }
                if let process = processes.withLock({ $0[index] }), !process.isRunning {
                    throw EtcdTestError("etcd \(members[index].name) exited with status \(process.terminationStatus):\n\(tail(index))")
                }
                guard clock.now < deadline else { throw EtcdTestError("etcd \(members[index].name) not healthy within \(timeout):\n\(tail(index))") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// One /health probe of member `index` (through the store's own health check).
    private func isHealthy(_ index: Int) async throws -> Bool {
        let store = try EtcdShardMapStore(url: "etcd://127.0.0.1:\(members[index].clientPort)", clusterID: "probe")
        let health = await store.health()
        await store.shutdown()
        return health.healthy
    }

    /// SIGKILL to every member, then removes the data unless ALMANAC_KEEP_TEST_DATA is set.
    func shutdown() {
        let all = processes.withLock { current in
            defer { current.removeAll() }
            return Array(current.values)
        }
        for process in all where process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        for process in all { process.waitUntilExit() }
        if ProcessInfo.processInfo.environment["ALMANAC_KEEP_TEST_DATA"] == nil {
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    func tail(_ index: Int, lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath(index), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    // MARK: Ports

    /// Ports the kernel hands out for port 0, released again for the members to bind.
    static func freePorts(count: Int) throws -> [Int] {
        do { return try FreePorts.loopback(count: count) } catch { throw EtcdTestError("\(error)") }
    }
}

struct EtcdTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
