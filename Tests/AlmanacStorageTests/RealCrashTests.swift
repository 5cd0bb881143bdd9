import AlmanacRaft
import Foundation
import Testing
@testable import AlmanacStorage

/// Kills a real child process (`almanac storage-crash-child`) with SIGKILL at random points while
/// it appends through group commit, then recovers: every acknowledged entry must be present and intact.
@Suite struct RealCrashTests {
    /// The `almanac` executable built next to the test bundle (or under the package's .build).
    static func almanacExecutable() -> String? {
        var candidates: [String] = []
        if let first = CommandLine.arguments.first {
            var directory = URL(fileURLWithPath: first).deletingLastPathComponent()
            for _ in 0..<4 {   // the bundle may be nested (e.g. X.xctest/Contents/MacOS)
                candidates.append(directory.appendingPathComponent("almanac").path)
                directory.deleteLastPathComponent()
            }
        }
        if let executable = Bundle.main.executablePath {
            candidates.append(URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("almanac").path)
        }
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        candidates.append(root.appendingPathComponent(".build/debug/almanac").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func sigkillAtRandomPointsLosesNoAcknowledgedEntry() throws {
        guard let executable = Self.almanacExecutable() else {
            Issue.record("almanac executable not found next to the tests; build with `swift build --build-tests`")
            return
        }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dataDirectory = directory + "/data"
        let groups: GroupID = 6
        var random = SplitMix64(seed: UInt64(Date().timeIntervalSince1970 * 1000))
        var acknowledged: [GroupID: LogIndex] = [:]
        var totalAcks = 0
        var tornTails = 0
        for round in 0..<20 {
            let outputPath = directory + "/acks-\(round).txt"
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            let child = Process()
            child.executableURL = URL(fileURLWithPath: executable)
            child.arguments = ["storage-crash-child", "--dir", dataDirectory, "--groups", "\(groups)",
                               "--segment-size", "\(64 << 10)"]
            child.standardOutput = output
            try child.run()
            // Wait for the first acknowledgement (startup includes recovery), then a random while.
            let started = Date()
            while (try? Data(contentsOf: URL(fileURLWithPath: outputPath)).count) ?? 0 == 0
                    && child.isRunning && Date().timeIntervalSince(started) < 30 {
                usleep(2_000)
            }
            usleep(useconds_t(random.next() % 250_000))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            try output.close()
            #expect(child.terminationReason == .uncaughtSignal, "round \(round): child exited on its own")

            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: outputPath)), as: UTF8.self)
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if !text.hasSuffix("\n") { lines.removeLast() }   // a line cut by the kill is not an acknowledgement
            for line in lines where !line.isEmpty {
                let parts = line.split(separator: " ")
                guard parts.count == 3, parts[0] == "ack", let group = GroupID(parts[1]), let index = LogIndex(parts[2]) else {
                    Issue.record("round \(round): unexpected child output \(line)")
                    continue
                }
                acknowledged[group] = max(acknowledged[group] ?? 0, index)
                totalAcks += 1
            }
            let engine = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: dataDirectory,
                                            options: LogEngineOptions(segmentSize: 64 << 10))
            tornTails += engine.recovery.tornTails.count
            for (group, last) in acknowledged {
                guard let summary = engine.summary(of: group), summary.lastIndex >= last else {
                    let recovered = engine.summary(of: group)?.lastIndex ?? 0
                    Issue.record("round \(round): group \(group) lost acknowledged entries (acked through \(last), recovered through \(recovered))")
                    continue
                }
                let stored = try engine.entries(group: group, 1..<(last + 1))
                let intact = stored.enumerated().allSatisfy { position, entry in
                    entry.index == LogIndex(position + 1) && entry.data == CrashWorkload.payload(group: group, index: entry.index)
                }
                #expect(intact, "round \(round): group \(group) entries damaged")
            }
            engine.close()
        }
        #expect(totalAcks > 20 * Int(groups), "the child should acknowledge entries in every round")
        print("real crash test: \(totalAcks) acknowledgements over 20 rounds, \(tornTails) torn tails cut")
    }
}
