import AlmanacKeyspace
import AlmanacNode
import AlmanacTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Majority durability across a zone failure needs at least 3 zones: configurations with fewer are
/// refused unless a single-machine test opts in explicitly.
@Suite("At least three zones", .serialized, .timeLimit(.minutes(2)))
struct ZoneRequirementTests {
    static func member(_ id: UInt64, _ zone: String) -> ClusterMember {
        ClusterMember(id: id, zone: zone, peerAddress: "127.0.0.1:\(7000 + id)", apiAddress: "127.0.0.1:\(7100 + id)")
    }

    @Test("member lists with fewer than 3 distinct zones are refused with the reason; the opt-in accepts them")
    func configValidation() throws {
        let twoZones = [Self.member(1, "a"), Self.member(2, "b"), Self.member(3, "b")]
        let oneZone = [Self.member(1, "a")]
        let threeZones = [Self.member(1, "a"), Self.member(2, "b"), Self.member(3, "c")]
        for members in [twoZones, oneZone] {
            #expect(throws: ReplicaPlacement.PlacementError.self) { try ReplicaPlacement.validate(members) }
            let file = NodeConfigFile(id: 1, zone: "a", dataDirectory: "/tmp/x", shards: 2, clusterID: "c", members: members)
            do {
                try file.validate()
                Issue.record("\(Set(members.map(\.zone)).count) zone(s) accepted")
            } catch {
                #expect(error.description.contains("at least 3"), "\(error)")
                #expect(error.description.contains("allowFewerZones"), "\(error)")
            }
            var optedIn = file
            optedIn.allowFewerZones = true
            try optedIn.validate()
            // The opt-in survives the JSON file.
            let decoded = try JSONDecoder().decode(NodeConfigFile.self, from: try optedIn.encoded())
            #expect(decoded.allowFewerZones == true)
        }
        try ReplicaPlacement.validate(threeZones)
        try NodeConfigFile(id: 1, zone: "a", dataDirectory: "/tmp/x", shards: 2, clusterID: "c", members: threeZones).validate()
        // A file without the key (every existing one) is strict.
        let json = #"{"id":1,"zone":"a","dataDirectory":"/tmp/x","shards":2,"clusterID":"c","members":[{"id":1,"zone":"a","peerAddress":"127.0.0.1:1","apiAddress":"127.0.0.1:2"}]}"#
        let legacy = try JSONDecoder().decode(NodeConfigFile.self, from: Data(json.utf8))
        #expect(legacy.allowFewerZones == nil)
        #expect(throws: NodeConfigError.self) { try legacy.validate() }
    }

    @Test("almanac serve with two zones exits 2 with a clear message; --allow-fewer-zones starts it")
    func serveRefusesTwoZones() async throws {
        let binary = try TestCluster.locateBinary()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-it-zones-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ports = try TestCluster.freePorts(count: 4)
        let arguments = [
            "serve", "--insecure", "--id", "1", "--zone", "zone-a", "--data-dir", "\(root)/n1",
            "--member", "1,zone-a,127.0.0.1:\(ports[0]),127.0.0.1:\(ports[1])",
            "--member", "2,zone-b,127.0.0.1:\(ports[2]),127.0.0.1:\(ports[3])",
        ]

        let refused = try Self.run(binary, arguments, output: "\(root)/refused.log")
        let deadline = Date().addingTimeInterval(20)
        while refused.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if refused.isRunning {
            kill(refused.processIdentifier, SIGKILL)
            refused.waitUntilExit()
            Issue.record("serve with two zones kept running")
        } else {
            #expect(refused.terminationStatus == 2)
        }
        let message = (try? String(contentsOfFile: "\(root)/refused.log", encoding: .utf8)) ?? ""
        #expect(message.contains("2 distinct zone(s)") && message.contains("at least 3"), "\(message)")
        #expect(!message.contains("ready:"), "\(message)")

        let optedIn = try Self.run(binary, arguments + ["--allow-fewer-zones"], output: "\(root)/allowed.log")
        defer {
            if optedIn.isRunning { kill(optedIn.processIdentifier, SIGKILL) }
            optedIn.waitUntilExit()
        }
        var ready = false
        let readyDeadline = Date().addingTimeInterval(30)
        while !ready && optedIn.isRunning && Date() < readyDeadline {
            ready = ((try? String(contentsOfFile: "\(root)/allowed.log", encoding: .utf8)) ?? "").contains("ready: api=")
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        let log = (try? String(contentsOfFile: "\(root)/allowed.log", encoding: .utf8)) ?? ""
        #expect(ready, "\(log)")
        #expect(log.contains("does not survive the loss of a zone"), "\(log)")
        optedIn.terminate()
    }

    static func run(_ binary: String, _ arguments: [String], output: String) throws -> Process {
        FileManager.default.createFile(atPath: output, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: output) else { throw ClusterError("cannot open \(output)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }
}
