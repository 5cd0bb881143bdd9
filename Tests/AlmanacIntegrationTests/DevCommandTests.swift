import AlmanacTestSupport
import AlmanacClient
import AlmanacWire
import NIOCore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `almanac dev` as a newcomer runs it: three children come up, files can be created and listed,
/// SIGTERM stops every child cleanly, and a second run recovers the data.
@Suite("almanac dev", .serialized, .timeLimit(.minutes(2)))
struct DevCommandTests {
    /// A base port whose client (base+1...3), peer (base+11...13) and metrics (base+21...23) ports
    /// are free right now.
    /// Drawn below the kernel's ephemeral range (32768 and up by default), so that the local
    /// port of some other test's outgoing connection cannot take one between this check and
    /// the nodes' bind.
    /// A base port for `almanac dev` (clients base+1..3, peers base+11..13, metrics base+21..23),
    /// reserved against every other test of this process (``FreePorts/block(offsets:)``).
    static func freeBasePort() throws -> Int {
        do { return try FreePorts.block(offsets: [1, 2, 3, 11, 12, 13, 21, 22, 23]) } catch { throw ClusterError("\(error)") }
    }

    /// Whether a listener could bind `port` now, as the nodes' listeners bind (SO_REUSEADDR: a
    /// stopped node's connections lingering in TIME_WAIT do not count, a process still listening does).
    static func isFree(_ port: Int) -> Bool { FreePorts.bindable(port, reuseAddress: true) }

    /// Cleanup after a failed test: SIGTERM (so dev stops its nodes: a SIGKILLed dev would leave
    /// them running), SIGKILL after 15 s.
    static func stopDev(_ dev: Process) {
        guard dev.isRunning else { return }
        kill(dev.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(15)
        while dev.isRunning && Date() < deadline { usleep(50_000) }
        if dev.isRunning { kill(dev.processIdentifier, SIGKILL) }
    }

    static func isListening(_ port: Int) -> Bool {
        guard let connection = try? RawConnection(port: port) else { return false }
        connection.close()
        return true
    }

    func runDev(root: String, base: Int, output: String) throws -> Process {
        FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: output))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestCluster.locateBinary())
        process.arguments = ["dev", "--data-dir", root, "--base-port", "\(base)", "--shards", "2"]
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    func waitFor(_ text: String, in path: String, process: Process) async throws {
        for _ in 0..<600 {
            if let content = try? String(contentsOfFile: path, encoding: .utf8), content.contains(text) { return }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let content = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        throw ClusterError("\"\(text)\" not printed by almanac dev:\n\(content)")
    }

    @Test("dev starts three nodes, serves the README commands, stops cleanly on SIGTERM and recovers on restart")
    func devLifecycle() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-dev-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let base = try Self.freeBasePort()
        let endpoints = (1...3).map { "127.0.0.1:\(base + $0)" }
        let output = root + ".out"
        defer { try? FileManager.default.removeItem(atPath: output) }

        let first = try runDev(root: root, base: base, output: output)
        defer { Self.stopDev(first) }
        try await waitFor("Cluster is up", in: output, process: first)
        let printed = try String(contentsOfFile: output, encoding: .utf8)
        #expect(printed.contains("export ALMANAC_ENDPOINTS=\(endpoints.joined(separator: ","))"))
        #expect(printed.contains("almanac ctl"))
        for node in 1...3 {
            #expect(printed.contains("metrics http://127.0.0.1:\(base + 20 + node)/metrics"))
            let ready = try await httpRequest(host: "127.0.0.1", port: base + 20 + node, path: "/healthz")
            #expect(ready.status == 200)
        }

        // TLS is on by default: clients trust the generated CA, ctl takes it from --ca or ALMANAC_CA.
        #expect(printed.contains("export ALMANAC_CA=\(root)/tls/ca.pem"), "\(printed)")
        let client = AlmanacClient(configuration: try Self.tlsConfiguration(endpoints: endpoints, root: root))
        let docs = try await client.mkdir(parent: rootInode, name: "docs")
        _ = try await client.create(parent: docs.inode, name: "hello.txt")
        await client.shutdown()
        let token = try Self.devToken(output: output)
        let (lsCode, lsText) = try await ctl(["ls", "/docs", "--endpoints", endpoints.joined(separator: ","), "--ca", "\(root)/tls/ca.pem",
                                              "--token", token], root: root)
        #expect(lsCode == 0 && lsText.contains("hello.txt"), "\(lsText)")
        let (envCode, envText) = try await ctl(["ls", "/docs", "--endpoints", endpoints[0]], root: root,
                                               environment: ["ALMANAC_CA": "\(root)/tls/ca.pem", "ALMANAC_TOKEN": token])
        #expect(envCode == 0 && envText.contains("hello.txt"), "\(envText)")

        kill(first.processIdentifier, SIGTERM)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        for node in 1...3 {
            let log = (try? String(contentsOfFile: "\(root)/node\(node).log", encoding: .utf8)) ?? ""
            #expect(log.contains("stopped"), "node \(node) did not shut down cleanly")
        }
        // Nothing listens any more. (Not a bind check: with TLS the node answers the client's
        // close_notify and closes first, so its side of those connections sits in TIME_WAIT.)
        #expect(endpoints.allSatisfy { !Self.isListening(Int($0.split(separator: ":")[1]) ?? 0) }, "a node still holds its port")

        let second = try runDev(root: root, base: base, output: output)
        defer { Self.stopDev(second) }
        try await waitFor("Cluster is up", in: output, process: second)
        let again = AlmanacClient(configuration: try Self.tlsConfiguration(endpoints: endpoints, root: root))
        let names = try await again.readdir(docs.inode).collect().map(\.name)
        #expect(names == ["hello.txt"])
        await again.shutdown()
        // A plaintext client gets nothing from a TLS node, and is told why (last: the node closes
        // this connection first, leaving its port in TIME_WAIT).
        let (plainCode, plainText) = try await ctl(["ls", "/docs", "--endpoints", endpoints[0], "--timeout", "2", "--token", token], root: root)
        #expect(plainCode != 0 && !plainText.contains("hello.txt") && plainText.contains("the server speaks TLS"), "\(plainText)")
        kill(second.processIdentifier, SIGTERM)
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
    }
    /// A client configuration trusting the CA `almanac dev` generated under `root`.
    static func tlsConfiguration(
        endpoints: [String], root: String, attemptTimeout: TimeAmount = .seconds(5), operationTimeout: TimeAmount = .seconds(30),
        consistency: Almanac_Api_V1_ReadConsistency = .linearizable
    ) throws -> AlmanacClientConfiguration {
        var configuration = AlmanacClientConfiguration(
            endpoints: endpoints, attemptTimeout: attemptTimeout, operationTimeout: operationTimeout, consistency: consistency)
        configuration.tls = try AlmanacClientConfiguration.tlsContext(trusting: "\(root)/tls/ca.pem")
        configuration.authToken = try devToken(output: root + ".out")
        return configuration
    }

    /// The token `almanac dev` printed (export ALMANAC_TOKEN=...).
    static func devToken(output: String) throws -> String {
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").last { $0.contains("export ALMANAC_TOKEN=") }, "no token printed:\n\(text)")
        return String(line.split(separator: "=", maxSplits: 1)[1])
    }

    /// Runs `almanac ctl node ...` and returns its exit status and output (stdout and stderr).
    func ctlNode(_ arguments: [String], root: String) async throws -> (status: Int32, output: String) {
        try await ctl(["node"] + arguments + ["--data-dir", root], root: root)
    }

    /// Runs `almanac ctl ...` (without ALMANAC_* from the test's environment unless given).
    func ctl(_ arguments: [String], root: String, environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let outputPath = root + ".ctl-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: outputPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestCluster.locateBinary())
        process.arguments = ["ctl"] + arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ALMANAC_") }
            .merging(environment) { _, given in given }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(90)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    /// The pid of `dev`'s child serving `node`, from /proc (independent of `ctl node status`).
    func childPID(of dev: Process, node: Int) -> Int32? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.range(of: ")", options: .backwards) else { continue }
            let fields = stat[close.upperBound...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == dev.processIdentifier,
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains("node\(node).json") else { continue }
            return pid
        }
        return nil
    }

    /// The pid `ctl node status` reports for `node`.
    func pid(of node: Int, root: String) async throws -> Int32 {
        let (status, output) = try await ctlNode(["status"], root: root)
        #expect(status == 0, "\(output)")
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("node \(node) ") }, "\(output)")
        let pidText = try #require(line.range(of: "pid ").map { line[$0.upperBound...].prefix { $0.isNumber } }, "\(line)")
        return try #require(Int32(pidText))
    }

    @Test("dev keeps serving when a node dies, reports it, and ctl node kill/stop/start manage the nodes")
    func devSurvivesNodeDeath() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-dev-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let base = try Self.freeBasePort()
        let endpoints = (1...3).map { "127.0.0.1:\(base + $0)" }
        let output = root + ".out"
        defer { try? FileManager.default.removeItem(atPath: output) }

        let dev = try runDev(root: root, base: base, output: output)
        defer { Self.stopDev(dev) }
        try await waitFor("Cluster is up", in: output, process: dev)
        let client = AlmanacClient(configuration: try Self.tlsConfiguration(
            endpoints: endpoints, root: root, attemptTimeout: .seconds(2), operationTimeout: .seconds(20)))
        defer { Task { await client.shutdown() } }
        let leader = try await FailoverTests.waitForLeader(client)
        let directory = try await client.mkdir(parent: rootInode, name: "drill")

        // A crash of the shard-0 leader, from outside (not through ctl).
        let victim = Int(leader)
        let victimPID = try #require(childPID(of: dev, node: victim))
        kill(victimPID, SIGKILL)
        try? await waitFor("node \(victim) (zone-", in: output, process: dev)
        for _ in 0..<10 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(dev.isRunning, "dev exited after a node died")
        let printed = try String(contentsOfFile: output, encoding: .utf8)
        #expect(printed.contains("died: killed by signal 9; the other nodes keep running"), "\(printed)")
        #expect(printed.contains("almanac ctl node start \(victim)"), "\(printed)")
        for i in 0..<20 { _ = try await client.create(parent: directory.inode, name: "after-crash-\(i)") }
        #expect(dev.isRunning, "dev exited after a node died")
        let others = (1...3).filter { $0 != victim }
        for other in others {
            let running = childPID(of: dev, node: other)
            #expect(running != nil, "node \(other) was stopped")
            #expect(try await pid(of: other, root: root) == running, "ctl node status disagrees with /proc")
        }
        let (statusCode, statusText) = try await ctlNode(["status"], root: root)
        #expect(statusCode == 0 && statusText.contains("node \(victim)  zone-") && statusText.contains("died"), "\(statusText)")

        // ctl node start brings it back; it catches up and serves its own (stale) view.
        let (startCode, startText) = try await ctlNode(["start", "\(victim)"], root: root)
        #expect(startCode == 0, "\(startText)")
        #expect(startText.contains("started"), "\(startText)")
        let (againCode, againText) = try await ctlNode(["start", "\(victim)"], root: root)
        #expect(againCode == 1 && againText.contains("already running"), "\(againText)")
        let stale = AlmanacClient(configuration: try Self.tlsConfiguration(
            endpoints: [endpoints[victim - 1]], root: root, attemptTimeout: .seconds(2), operationTimeout: .seconds(4), consistency: .stale))
        defer { Task { await stale.shutdown() } }
        var caughtUp = false
        for _ in 0..<100 where !caughtUp {
            caughtUp = (try? await stale.lookup(parent: directory.inode, name: "after-crash-19")) != nil
            if !caughtUp { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(caughtUp, "the restarted node did not catch up")

        // ctl node kill (SIGKILL) and stop (SIGTERM) of other nodes: writes keep going with one down.
        let (killCode, killText) = try await ctlNode(["kill", "\(others[0])"], root: root)
        #expect(killCode == 0 && killText.contains("killed"), "\(killText)")
        _ = try await client.create(parent: directory.inode, name: "after-ctl-kill")
        #expect(try await ctlNode(["start", "\(others[0])"], root: root).status == 0)
        let (stopCode, stopText) = try await ctlNode(["stop", "\(others[1])"], root: root)
        #expect(stopCode == 0 && stopText.contains("stopped (exit status 0)"), "\(stopText)")
        _ = try await client.create(parent: directory.inode, name: "after-ctl-stop")
        let (missingCode, missingText) = try await ctlNode(["stop", "\(others[1])"], root: root)
        #expect(missingCode == 1 && missingText.contains("not running"), "\(missingText)")
        #expect(try await ctlNode(["start", "\(others[1])"], root: root).status == 0)
        #expect(dev.isRunning)
        let (noDevCode, _) = try await ctlNode(["status"], root: root + "-nothing")
        #expect(noDevCode == 3)

        await client.shutdown()  // clients close first, so no server port is left in TIME_WAIT
        await stale.shutdown()
        kill(dev.processIdentifier, SIGTERM)
        dev.waitUntilExit()
        #expect(dev.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: root + "/dev.sock"))
        // Nothing listens any more (killed nodes' ports may sit in TIME_WAIT, so not a bind check).
        for endpoint in endpoints { #expect(!Self.isListening(Int(endpoint.split(separator: ":")[1]) ?? 0), "\(endpoint) still listens") }
    }
}
