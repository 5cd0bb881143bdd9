import AlmanacClient
import AlmanacServer
import NIOCore
import Testing

/// Hedged attempts: a node that accepts requests but never answers (a paused process) does not
/// hold the client for its attempt timeout.
@Suite struct HedgingTests {
    /// Wall-clock bounds here separate "hedged" (about the 100 ms hedge delay) from "held for the
    /// attempt timeout"; the timeouts are long so the bound can be generous on a loaded CI machine.
    func client(_ endpoints: [String], hedgeDelay: TimeAmount?,
                attemptTimeout: TimeAmount = .seconds(3)) -> AlmanacClient {
        AlmanacClient(configuration: AlmanacClientConfiguration(
            endpoints: endpoints, attemptTimeout: attemptTimeout, operationTimeout: .seconds(40),
            initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(50), hedgeDelay: hedgeDelay))
    }

    @Test func aHungEndpointIsHedgedToAnother() async throws {
        let hung = try await TestServer.start()
        await hung.service.setDelay(.seconds(30))
        let healthy = try await TestServer.start()
        let client = client([hung.endpoint, healthy.endpoint], hedgeDelay: .milliseconds(100),
                            attemptTimeout: .seconds(20))
        let clock = ContinuousClock()
        let start = clock.now
        let made = try await client.mkdir(parent: rootInode, name: "hedged")  // open_session, then mkdir
        let elapsed = clock.now - start
        // Without hedging this takes the 20 s attempt timeout; the bound leaves room for CI load.
        #expect(elapsed < .seconds(5), "took \(elapsed) (the attempt timeout is 20 s)")
        #expect(await healthy.service.state.inodeCount == 2)
        // The leader is remembered: the next write is served without waiting for the hung node.
        let second = clock.now
        _ = try await client.create(parent: made.inode, name: "next")
        #expect(clock.now - second < .seconds(5))
        #expect(await healthy.service.state.inodeCount == 3)
        await client.shutdown()
        await hung.stop()
        await healthy.stop()
    }

    @Test func withoutHedgingTheHungEndpointHoldsTheAttempt() async throws {
        let hung = try await TestServer.start()
        await hung.service.setDelay(.seconds(30))
        let healthy = try await TestServer.start()
        let client = client([hung.endpoint, healthy.endpoint], hedgeDelay: nil)
        let clock = ContinuousClock()
        let start = clock.now
        _ = try await client.mkdir(parent: rootInode, name: "slow")
        #expect(clock.now - start >= .seconds(3))
        await client.shutdown()
        await hung.stop()
        await healthy.stop()
    }

    /// The followers of a hung leader point at it until they elect a new one; then their hint is
    /// followed at once.
    @Test func hedgesFollowTheHintToTheNewLeader() async throws {
        let hung = try await TestServer.start()
        await hung.service.setDelay(.seconds(30))
        let follower = try await TestServer.start()
        let newLeader = try await TestServer.start()
        await follower.service.setRedirect(LeaderHint(nodeID: 1, address: hung.endpoint, zone: "z1"))
        let client = client([hung.endpoint, follower.endpoint], hedgeDelay: .milliseconds(100))
        let clock = ContinuousClock()
        let start = clock.now
        let election = Task {
            try await Task.sleep(for: .milliseconds(600))
            await follower.service.setRedirect(LeaderHint(nodeID: 3, address: newLeader.endpoint, zone: "z3"))
        }
        _ = try await client.mkdir(parent: rootInode, name: "moved")
        let elapsed = clock.now - start
        try await election.value
        #expect(elapsed >= .milliseconds(600))
        // Followed well before the 3 s attempt timeout on the hung node would end the attempt (the
        // hint is re-read every 50 ms); the margin covers 30 socket suites sharing 2 cores in CI.
        #expect(elapsed < .milliseconds(2500), "took \(elapsed)")
        #expect(await newLeader.service.state.inodeCount == 2)
        #expect(await follower.service.appliedWrites == 0)
        await client.shutdown()
        for server in [hung, follower, newLeader] { await server.stop() }
    }
}
