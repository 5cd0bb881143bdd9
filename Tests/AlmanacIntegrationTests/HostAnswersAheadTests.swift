import AlmanacTestSupport
import AlmanacNode
import AlmanacRaft
import Foundation
import NIOCore
import Testing

/// Answers ahead of commit (`async` durability) on three in-process hosts over real sockets.
extension HostClusterTests {
    @Test("a new leader holds its replay window; then an answer ahead of commit is the result its commit produces; reads wait for it; it becomes durable")
    func answersAheadOfCommit() async throws {
        let window = TimeAmount.seconds(2)
        let started = NIODeadline.now()
        let (hosts, root, _) = try await startHosts(groups: 1, asyncReplayWindow: window)
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try await propose(hosts, group: 0, [0])  // a leader, and its first entry of the term applied
        var leader: MultiRaftHost<PayloadList>?
        for host in hosts where await host.status(digests: false)?.groups.first?.raft.role == .leader { leader = host }
        let host = try #require(leader)

        // The leader was elected after `started`: while less than the window has passed since, it
        // refuses async writes and still takes majority ones (and replays, which are majority).
        let refused: HostError?
        do {
            _ = try await host.proposingAhead(group: 0, data: [250]).get()
            refused = nil
        } catch {
            refused = error as? HostError
        }
        if NIODeadline.now() - started < window {
            guard case .replayWindow = refused else { Issue.record("an async write was taken in the replay window: \(String(describing: refused))"); return }
            #expect(try await host.proposing(group: 0, data: [251]).get().answeredAhead == false)
        }
        try await Task.sleep(for: .milliseconds(Int64(window.nanoseconds / 1_000_000)))

        // Async and majority proposals interleaved, none awaited before the next is made: the
        // answers ahead come from the state ahead, which must include the majority entries before them.
        var futures: [(payload: [UInt8], ahead: Bool, future: EventLoopFuture<AppliedResult<Int>>)] = []
        for i in 1...60 {
            let payload: [UInt8] = [UInt8(i)]
            let ahead = i % 3 != 0
            futures.append((payload, ahead, ahead ? host.proposingAhead(group: 0, data: payload) : host.proposing(group: 0, data: payload)))
        }
        var answeredAhead = 0
        var answers: [(payload: [UInt8], result: AppliedResult<Int>)] = []
        for (payload, ahead, future) in futures {
            let result = try await future.get()
            if ahead && result.answeredAhead { answeredAhead += 1 }
            if !ahead { #expect(!result.answeredAhead, "a majority write was answered before its commit") }
            answers.append((payload, result))
        }
        #expect(answeredAhead > 0, "no async proposal was answered ahead of commit")

        // A linearizable read made right after an answer ahead sees that write.
        let last = try await host.proposingAhead(group: 0, data: [200]).get()
        let read = try await host.read(group: 0, linearizable: true) { $0.items.count }
        #expect(read.value >= last.result, "a read missed a write acknowledged before it (\(read.value) < \(last.result))")
        answers.append(([200], last))

        // Every answer (ahead or at commit) is the list position its entry got when committed.
        let items = try await host.read(group: 0, linearizable: true) { $0.items }.value
        for (payload, result) in answers {
            #expect(result.result >= 1 && result.result <= items.count && items[result.result - 1] == payload,
                    "payload \(payload) answered position \(result.result)")
        }
        #expect(Set(answers.map(\.result.result)).count == answers.count, "two writes answered the same position")

        // Every write answered ahead becomes durable; none was lost.
        var counters = AnswersAheadCounters()
        for _ in 0..<100 {
            counters = await host.status(digests: false)?.answersAhead ?? counters
            if counters.durable == counters.answered { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(counters.answered == UInt64(answeredAhead + (last.answeredAhead ? 1 : 0)))
        #expect(counters.durable == counters.answered && counters.lost == 0, "\(counters)")
        #expect(counters.exposureNanosecondsMax > 0)
        for other in hosts { await other.stop() }
    }
}
