import AlmanacClient
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
    static func freeBasePort() throws -> Int {
        for _ in 0..<50 {
            let base = Int.random(in: 20_000...32_000)
            let ports = [1, 2, 3, 11, 12, 13, 21, 22, 23].map { base + $0 }
            if ports.allSatisfy(isFree) { return base }
        }
        throw ClusterError("no free port range found")
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
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
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        try await waitFor("Cluster is up", in: output, process: first)
        let printed = try String(contentsOfFile: output, encoding: .utf8)
        #expect(printed.contains("export ALMANAC_ENDPOINTS=\(endpoints.joined(separator: ","))"))
        #expect(printed.contains("almanac ctl"))
        for node in 1...3 {
            #expect(printed.contains("metrics http://127.0.0.1:\(base + 20 + node)/metrics"))
            let ready = try await httpRequest(host: "127.0.0.1", port: base + 20 + node, path: "/healthz")
            #expect(ready.status == 200)
        }

        let client = AlmanacClient(endpoints: endpoints)
        let docs = try await client.mkdir(parent: rootInode, name: "docs")
        _ = try await client.create(parent: docs.inode, name: "hello.txt")
        await client.shutdown()

        kill(first.processIdentifier, SIGTERM)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        for node in 1...3 {
            let log = (try? String(contentsOfFile: "\(root)/node\(node).log", encoding: .utf8)) ?? ""
            #expect(log.contains("stopped"), "node \(node) did not shut down cleanly")
        }
        #expect(endpoints.allSatisfy { Self.isFree(Int($0.split(separator: ":")[1]) ?? 0) }, "a node still holds its port")

        let second = try runDev(root: root, base: base, output: output)
        defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
        try await waitFor("Cluster is up", in: output, process: second)
        let again = AlmanacClient(endpoints: endpoints)
        let names = try await again.readdir(docs.inode).collect().map(\.name)
        #expect(names == ["hello.txt"])
        await again.shutdown()
        kill(second.processIdentifier, SIGTERM)
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
    }
}
