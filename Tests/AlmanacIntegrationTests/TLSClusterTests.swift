import AlmanacTestSupport
import AlmanacClient
import AlmanacSecurity
import AlmanacWire
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `almanac serve` with TLS (client API) and mutual TLS (peers), as real processes on loopback.
@Suite("TLS cluster", .serialized, .timeLimit(.minutes(2)))
struct TLSClusterTests {
    @Test("a 3-node cluster over TLS serves a client that trusts its CA and nothing to a plaintext client")
    func clusterOverTLS() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-it-tls-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let layout = try DevCertificates.generate(into: directory, clusterName: "it-tls", nodes: [1])
        let files = layout.node(1)  // one certificate for all three nodes is enough here
        let cluster = try await TestCluster.start(name: "tls", extraArguments: [
            "--tls-cert", files.certificate, "--tls-key", files.privateKey, "--tls-ca", files.certificateAuthority,
        ])
        defer { cluster.shutdown() }
        let log = (try? String(contentsOfFile: cluster.logPath(1), encoding: .utf8)) ?? ""
        #expect(log.contains("tls=on"), "\(log)")

        var configuration = AlmanacClientConfiguration(endpoints: cluster.endpoints, attemptTimeout: .seconds(3), operationTimeout: .seconds(30))
        configuration.tls = try AlmanacClientConfiguration.tlsContext(trusting: layout.certificateAuthority)
        let client = AlmanacClient(configuration: configuration)
        let directoryEntry = try await client.mkdir(parent: rootInode, name: "secure")
        let file = try await client.create(parent: directoryEntry.inode, name: "a.txt")
        #expect(try await client.lookup(parent: directoryEntry.inode, name: "a.txt").inode == file.inode)
        // Cross-shard work goes through the nodes' own coordinator clients, also over TLS.
        try await client.rename(parent: directoryEntry.inode, name: "a.txt", newParent: rootInode, newName: "moved.txt")
        #expect(try await client.lookup(parent: rootInode, name: "moved.txt").inode == file.inode)
        await client.shutdown()

        let plain = AlmanacClient(configuration: AlmanacClientConfiguration(
            endpoints: cluster.endpoints, attemptTimeout: .seconds(1), operationTimeout: .seconds(2)))
        await #expect(throws: AlmanacClientError.self) { _ = try await plain.lookup(parent: rootInode, name: "moved.txt") }
        await plain.shutdown()

        // A client that trusts another CA refuses the nodes' certificates.
        let other = try DevCertificates.generate(into: directory + "/other", clusterName: "other", nodes: [])
        var wrongCA = AlmanacClientConfiguration(endpoints: cluster.endpoints, attemptTimeout: .seconds(1), operationTimeout: .seconds(2))
        wrongCA.tls = try AlmanacClientConfiguration.tlsContext(trusting: other.certificateAuthority)
        let mistrusting = AlmanacClient(configuration: wrongCA)
        await #expect(throws: AlmanacClientError.self) { _ = try await mistrusting.lookup(parent: rootInode, name: "moved.txt") }
        await mistrusting.shutdown()
    }

    @Test("serve needs TLS files or an explicit --insecure; unreadable files fail the start")
    func plaintextNeedsInsecure() async throws {
        let binary = try TestCluster.locateBinary()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-it-insecure-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ports = try TestCluster.freePorts(count: 2)
        let base = ["serve", "--id", "1", "--zone", "zone-a", "--data-dir", "\(root)/n1", "--allow-fewer-zones",
                    "--peer-listen", "127.0.0.1:\(ports[0])", "--api-listen", "127.0.0.1:\(ports[1])"]
        for (arguments, status, message) in [
            (base, Int32(2), "TLS needs --tls-cert, --tls-key and --tls-ca (or pass --insecure for plaintext)"),
            (base + ["--insecure", "--tls-ca", "x.pem"], 2, "--insecure cannot be combined"),
            (base + ["--tls-cert", "\(root)/none.pem", "--tls-key", "\(root)/none-key.pem", "--tls-ca", "\(root)/ca.pem"], 1,
             "cannot load the certificate \(root)/none.pem"),
        ] {
            let output = "\(root)/out-\(UUID().uuidString.prefix(6)).log"
            let process = try ZoneRequirementTests.run(binary, arguments, output: output)
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            #expect(process.terminationStatus == status, "\(arguments): \(text)")
            #expect(text.contains(message), "\(text)")
            #expect(!text.contains("ready:"), "\(text)")
        }
    }
}
