import AlmanacTestSupport
import AlmanacClient
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A hung (SIGSTOPped) leader: its TCP connections stay open, so without hedging every client
/// waits for its whole attempt timeout (5 s) although the followers elect a new leader in about
/// a second. With hedged attempts the writes move to the new leader as soon as it exists.
@Suite("Paused leader", .serialized, .timeLimit(.minutes(2)))
struct PausedLeaderTests {
    struct Sample: Sendable {
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
        var failed: String?
    }

    static let bound: Duration = .milliseconds(1500)

    final class Recorder: Sendable {
        let samples = Mutex<[Sample]>([])
        let stopped = Mutex(false)
    }

    @Test("writes resume within 1.5 s of the leader being SIGSTOPped, exactly once")
    func writesResumeAfterLeaderPause() async throws {
        let cluster = try await TestCluster.start(name: "pause", shards: 2)
        defer { cluster.shutdown() }
        // The library's defaults (attempt timeout 5 s, operation timeout 30 s), as applications use it.
        let client = AlmanacClient(configuration: AlmanacClientConfiguration(endpoints: cluster.endpoints, clientName: "pause-test"))
        defer { Task { await client.shutdown() } }
        let leader = try await FailoverTests.waitForLeader(client)
        let directory = try await client.mkdir(parent: rootInode, name: "pause").inode

        let clock = ContinuousClock()
        let recorder = Recorder()
        let workers = 4
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        var i = 0
                        while !recorder.stopped.withLock({ $0 }) {
                            let start = clock.now
                            var failed: String?
                            do {
                                _ = try await client.create(parent: directory, name: "w\(worker)-\(i)")
                            } catch {
                                failed = "\(error)"
                            }
                            recorder.samples.withLock { $0.append(Sample(start: start, end: clock.now, failed: failed)) }
                            i += 1
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .seconds(1.5))
        let paused = clock.now
        #expect(cluster.signal(leader, SIGSTOP))
        try await Task.sleep(for: .seconds(4))
        let resumed = clock.now
        cluster.signal(leader, SIGCONT)
        try await Task.sleep(for: .seconds(1))
        recorder.stopped.withLock { $0 = true }
        await load.value

        let all = recorder.samples.withLock { $0 }
        let failures = all.compactMap(\.failed)
        #expect(failures.isEmpty, "failed writes: \(failures.prefix(5))")
        // Writes in progress at the pause or started while the leader stayed paused.
        let during = all.filter { $0.end > paused && $0.start < resumed }
        let latencies = during.map { $0.end - $0.start }.sorted()
        let completions = all.map(\.end).filter { $0 > paused && $0 < resumed }.sorted()
        let firstAfterPause = completions.first.map { $0 - paused }
        // The longest stretch without any completed write, from the pause on.
        var gap = Duration.zero
        var previous = paused
        for end in completions {
            gap = max(gap, end - previous)
            previous = end
        }
        gap = max(gap, resumed - previous)
        func ms(_ d: Duration) -> String { String(format: "%.0f ms", Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15) }
        let p99 = latencies.isEmpty ? Duration.zero : latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
        let p50 = latencies.isEmpty ? Duration.zero : latencies[latencies.count / 2]
        print("paused-leader: \(during.count) writes during the 4 s pause; latency p50 \(ms(p50)) p99 \(ms(p99)) max \(ms(latencies.last ?? .zero)); "
            + "first completion \(firstAfterPause.map(ms) ?? "none") after the pause; longest gap without completions \(ms(gap)); "
            + "\(all.count) writes in all")
        #expect(during.count > 20, "the load did not resume (\(during.count) writes during the pause)")
        #expect(p99 <= Self.bound, "p99 \(ms(p99)) over \(during.count) writes")
        #expect(gap <= Self.bound, "writes stalled for \(ms(gap))")

        // Exactly once: every acknowledged create exists once, nothing else does.
        let listed = try await client.readdir(directory).collect().map(\.name)
        #expect(Set(listed).count == listed.count)
        #expect(listed.count == all.count - failures.count, "\(listed.count) entries for \(all.count - failures.count) acknowledged creates")
    }
}
