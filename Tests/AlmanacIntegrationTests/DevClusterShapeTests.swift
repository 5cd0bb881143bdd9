import AlmanacTestSupport
import Foundation
import Testing

/// `almanac dev --nodes 6`: more nodes than zones. Each shard's three replicas sit one per zone on
/// some of the nodes, every shard elects a leader, requests sent to a node that hosts no replica
/// of their shard are redirected, and a merge and a split move segments between groups hosted on
/// different nodes, with `ctl check` clean after each.
@Suite("almanac dev --nodes 6", .serialized, .timeLimit(.minutes(3)))
struct DevClusterShapeTests {
    @Test("six nodes in three zones: every shard led, every operation served, merge and split, ctl check clean")
    func sixNodesInThreeZones() async throws {
        let dev = DevCommandTests()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-dev6-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Ports reserved against every other test of this process; another program can still take
        // one before `dev` binds it (a node then exits at start-up), so that start is retried elsewhere.
        var base = 0
        var started: Process?
        let output = root + ".out"
        for attempt in 0..<3 {
            base = try FreePorts.block(offsets: (1...6).flatMap { [$0, 10 + $0, 20 + $0] })
            FileManager.default.createFile(atPath: output, contents: nil)
            let handle = try #require(FileHandle(forWritingAtPath: output))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try TestCluster.locateBinary())
            process.arguments = ["dev", "--nodes", "6", "--insecure", "--no-auth", "--data-dir", root, "--base-port", "\(base)"]
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            do {
                try await dev.waitFor("Cluster is up", in: output, process: process)
                started = process
                break
            } catch {
                DevCommandTests.stopDev(process)
                // Only a lost port race (a node could not bind) is retried; anything else fails the test.
                let logs = (1...6).compactMap { try? String(contentsOfFile: "\(root)/node\($0).log", encoding: .utf8) }.joined()
                guard attempt < 2, logs.contains("cannot listen") || logs.contains("already in use") else { throw error }
                try? FileManager.default.removeItem(atPath: root)
            }
        }
        let process = try #require(started)
        defer { DevCommandTests.stopDev(process) }
        let environment = ["ALMANAC_ENDPOINTS": (1...6).map { "127.0.0.1:\(base + $0)" }.joined(separator: ",")]

        for i in 0..<12 {
            let made = try await dev.ctl(["mkdir", "/d\(i)"], root: root, environment: environment)
            #expect(made.status == 0, "mkdir /d\(i): \(made.output)")
            let touched = try await dev.ctl(["touch", "/d\(i)/f"], root: root, environment: environment)
            #expect(touched.status == 0, "touch /d\(i)/f: \(touched.output)")
        }
        let shards = try await dev.ctl(["shards"], root: root, environment: environment)
        for shard in 0..<4 { #expect(shards.output.contains("shard \(shard)  epoch"), "\(shards.output)") }
        #expect(!shards.output.contains("leader unknown") && !shards.output.contains("leader none"), "\(shards.output)")
        for node in 4...6 { #expect(shards.output.contains("node \(node)  zone"), "node \(node) hosts no replica:\n\(shards.output)") }

        for step in [["reshard", "merge", "3", "--into", "2"], ["reshard", "split", "2", "--into", "3"]] {
            let moved = try await dev.ctl(step, root: root, environment: environment)
            #expect(moved.status == 0 && moved.output.contains(": moved;"), "\(step): \(moved.output)")
            let check = try await dev.ctl(["check"], root: root, environment: environment)
            #expect(check.status == 0, "ctl check after \(step): \(check.output)")
        }
        // Replicas report the segments their state machines own (ctl check compares them with the map).
        let status = try await dev.ctl(["status", "--json"], root: root, environment: environment)
        #expect(status.output.contains("\"ownershipKnown\": true") || status.output.contains("\"ownershipKnown\":true"), "\(status.output.prefix(2000))")
        let listed = try await dev.ctl(["ls", "/"], root: root, environment: environment)
        for i in 0..<12 { #expect(listed.output.contains("d\(i)/"), "\(listed.output)") }
        for i in 0..<12 {
            let files = try await dev.ctl(["ls", "/d\(i)"], root: root, environment: environment)
            #expect(files.status == 0 && files.output.contains("f"), "ls /d\(i): \(files.output)")
        }
    }
}
