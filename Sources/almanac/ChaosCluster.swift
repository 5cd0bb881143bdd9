import AlmanacKeyspace
import AlmanacNode
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The real `almanac serve` processes of a chaos run, one per zone, each started inside its zone's
/// network namespace (`ip netns exec`, which execs the server, so the pid is the server's).
final class ChaosCluster: Sendable {
    struct Node {
        var id: UInt64
        var zone: String
        var namespace: String
        var address: String
        /// The directory the node's data directory lives on (a mount point when disk stalls are on).
        var mount: String
        var config: String
        var log: String
    }

    let nodes: [Node]
    let binary: String
    /// Where the nemesis's commands write their output.
    let commandLog: String
    /// The running node processes by node id.
    private let processes = Mutex<[UInt64: pid_t]>([:])

    /// Writes the node configurations. `root/node<N>` is node N's mount directory (its data in
    /// `root/node<N>/data`); logs and configs go to `root/logs`, off the frozen file systems.
    init(binary: String, root: String, namespaces: [String], addresses: [String], shards: Int,
         snapshotEvery: UInt64) throws {
        self.binary = binary
        let logs = "\(root)/logs"
        commandLog = "\(logs)/nemesis.log"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let members = addresses.enumerated().map { index, address in
            ClusterMember(id: UInt64(index + 1), zone: "zone-\(index + 1)", peerAddress: "\(address):7200",
                          apiAddress: "\(address):7100")
        }
        var nodes: [Node] = []
        for (index, member) in members.enumerated() {
            let mount = "\(root)/node\(member.id)"
            try FileManager.default.createDirectory(atPath: "\(mount)/data", withIntermediateDirectories: true)
            let config = NodeConfigFile(id: member.id, zone: member.zone, dataDirectory: "\(mount)/data", shards: shards,
                                        clusterID: "chaos", members: members, snapshotEveryEntries: snapshotEvery)
            let path = "\(logs)/node\(member.id).json"
            try config.encoded().write(to: URL(fileURLWithPath: path))
            nodes.append(Node(id: member.id, zone: member.zone, namespace: namespaces[index], address: member.apiAddress,
                              mount: mount, config: path, log: "\(logs)/node\(member.id).log"))
        }
        self.nodes = nodes
    }

    var endpoints: [String] { nodes.map(\.address) }

    func node(_ id: UInt64) -> Node { nodes[Int(id) - 1] }

    /// Starts node `id`, appending to its log, and waits for its ready line.
    func start(_ id: UInt64, timeout: Duration = .seconds(60)) async throws {
        let node = node(id)
        if let text = "=== launch \(Date()) ===\n".data(using: .utf8) {
            if !FileManager.default.fileExists(atPath: node.log) { FileManager.default.createFile(atPath: node.log, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: node.log) else { throw ChaosError("cannot open \(node.log)") }
            handle.seekToEndOfFile()
            handle.write(text)
            try? handle.close()
        }
        let pid = try ChaosSpawn.spawn("/usr/sbin/ip", ["netns", "exec", node.namespace, binary, "serve", "--config", node.config,
                                                        "--log-level", "info", "--log-format", "json", "--insecure"], output: node.log)
        processes.withLock { $0[id] = pid }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            let text = (try? String(contentsOfFile: node.log, encoding: .utf8)) ?? ""
            if let launch = text.range(of: "=== launch", options: .backwards), text[launch.lowerBound...].contains("ready: api=") { return }
            if let status = ChaosSpawn.poll(pid) {
                processes.withLock { _ = $0.removeValue(forKey: id) }
                throw ChaosError("node \(id) exited with status \(status) during start-up; see \(node.log)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ChaosError("node \(id) not ready within \(timeout); see \(node.log)")
    }

    /// SIGKILL and reap.
    func kill(_ id: UInt64) {
        guard let pid = processes.withLock({ $0.removeValue(forKey: id) }) else { return }
        Glibc.kill(pid, SIGKILL)
        _ = ChaosSpawn.wait(pid)
    }

    /// Sends `signal`; false if node `id` is not running.
    @discardableResult
    func signal(_ id: UInt64, _ signal: Int32) -> Bool {
        guard let pid = processes.withLock({ $0[id] }) else { return false }
        return Glibc.kill(pid, signal) == 0
    }

    /// Nodes that exited by themselves (reaped here), with their status.
    func exited() -> [(UInt64, Int32)] {
        processes.withLock { processes in
            var gone: [(UInt64, Int32)] = []
            for (id, pid) in processes {
                if let status = ChaosSpawn.poll(pid) { gone.append((id, status)) }
            }
            for (id, _) in gone { processes.removeValue(forKey: id) }
            return gone
        }
    }

    /// SIGCONT (in case one is stopped), SIGTERM, then SIGKILL after 10 s.
    func shutdown() {
        let all = processes.withLock { processes -> [pid_t] in
            defer { processes.removeAll() }
            return Array(processes.values)
        }
        for pid in all {
            Glibc.kill(pid, SIGCONT)
            Glibc.kill(pid, SIGTERM)
        }
        let deadline = Date().addingTimeInterval(10)
        var running = Set(all)
        while !running.isEmpty && Date() < deadline {
            running = running.filter { ChaosSpawn.poll($0) == nil }
            usleep(20_000)
        }
        for pid in running {
            Glibc.kill(pid, SIGKILL)
            _ = ChaosSpawn.wait(pid)
        }
    }
}

struct ChaosError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
