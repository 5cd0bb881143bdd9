import AlmanacTestSupport
import AlmanacNode
import Foundation
import Testing

/// The multi-Raft host on its own (three in-process hosts): a failed WAL stops the host, says so in
/// its status and through `stopped`, and closes its peer transport, so that the other hosts elect
/// new leaders for the groups it led although those groups were quiesced.
@Suite("Multi-Raft host storage failure (three in-process nodes)", .serialized, .timeLimit(.minutes(2)))
struct HostStorageFailureTests {
    @Test("a leader whose storage fails stops, reports why, goes silent, and its quiesced groups get new leaders")
    func storageFailureOfALeader() async throws {
        let cluster = HostClusterTests()
        let (hosts, root, _) = try await cluster.startHosts(groups: 2)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for group in UInt64(0)..<2 { _ = try await cluster.propose(hosts, group: group, [1]) }
        try await Task.sleep(for: .milliseconds(800))  // idle: the groups quiesce
        var leaderIndex: Int?
        for (i, host) in hosts.enumerated() where (try? await host.read(group: 0, linearizable: true, { _ in 0 })) != nil {
            leaderIndex = i
        }
        let failed = hosts[try #require(leaderIndex)]
        failed.injectStorageFailure("test: fsync failed")
        #expect(await failed.waitUntilStopped()?.contains("test: fsync failed") == true)
        let status = try #require(await failed.status())
        #expect(status.stoppedReason?.hasPrefix("storage failed") == true, "\(String(describing: status.stoppedReason))")
        do throws(HostError) {
            _ = try await failed.propose(group: 0, data: [2])
            Issue.record("the failed host accepted a proposal")
        } catch {
            guard case .stopped = error else { Issue.record("expected stopped, got \(error)"); return }
        }
        let survivors = hosts.filter { $0 !== failed }
        let clock = ContinuousClock()
        let began = clock.now
        for group in UInt64(0)..<2 { _ = try await cluster.propose(survivors, group: group, [3]) }
        let elapsed = clock.now - began
        #expect(elapsed < .seconds(4), "the survivors needed \(elapsed) to take writes again")
        for host in hosts { await host.stop() }
    }
}
