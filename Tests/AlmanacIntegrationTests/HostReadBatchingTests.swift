import AlmanacNode
import AlmanacRaft
import Foundation
import Testing

/// The highest entry count a proposer saw acknowledged.
private actor AcknowledgedCount {
    var value = 0
    func raise(to count: Int) { value = max(value, count) }
}

extension HostClusterTests {
    @Test("concurrent linearizable reads share ReadIndex rounds, and each sees every write acknowledged before it began")
    func batchedReadIndexStaysLinearizable() async throws {
        let (hosts, root, _) = try await startHosts(groups: 1)
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try await propose(hosts, group: 0, [0])
        var leaderIndex: Int?
        for (i, host) in hosts.enumerated() where (try? await host.read(group: 0, linearizable: true, { _ in 0 })) != nil {
            leaderIndex = i
        }
        let leader = hosts[try #require(leaderIndex)]
        let acknowledged = AcknowledgedCount()
        await acknowledged.raise(to: 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for i in 1...60 {
                    let applied = try await leader.propose(group: 0, data: [UInt8(i)])
                    await acknowledged.raise(to: applied.result)
                }
            }
            // 16 readers with one read outstanding each: most reads arrive while a round is in flight.
            for _ in 0..<16 {
                group.addTask {
                    for _ in 0..<30 {
                        let floor = await acknowledged.value
                        let read = try await leader.read(group: 0, linearizable: true) { $0.items.count }
                        #expect(read.value >= floor, "a read that began after \(floor) entries were acknowledged saw \(read.value)")
                        #expect(read.appliedIndex > 0)
                    }
                }
            }
            try await group.waitForAll()
        }
        let last = try await leader.read(group: 0, linearizable: true) { $0.items.count }
        #expect(last.value == 61)
        for host in hosts { await host.stop() }
    }
}
