import AlmanacNode
import AlmanacRaft
import AlmanacWire
import NIOCore
import NIOPosix
import Testing

/// Peer transports on real loopback sockets.
@Suite struct PeerTransportTests {
    typealias T = TransportTestSupport

    /// Appends of one group must arrive in the order they were sent.
    private func expectPerGroupOrder(_ received: [PeerEnvelope], _ sent: [PeerEnvelope],
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        for group in Set(sent.map(\.groupID)) {
            let sentAppends = sent.filter { $0.groupID == group && $0.message.type == .append }
            let receivedAppends = received.filter { $0.groupID == group && $0.message.type == .append }
            #expect(sentAppends == receivedAppends, sourceLocation: sourceLocation)
        }
    }

    @Test func twoTransportsExchangeMessagesBothWays() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        let a = try await T.start(T.configuration(id: 1, zone: "a"), inbox: inboxA)
        let b = try await T.start(T.configuration(id: 2, zone: "b"), inbox: inboxB)
        try await a.setPeers([b.localAddress])
        try await b.setPeers([a.localAddress])

        let toB = T.traffic(count: 2_000, from: 1, to: 2)
        let toA = T.traffic(count: 700, from: 2, to: 1)
        // Several sends per direction; the acceptor (b) may send before a's connection arrives.
        for chunk in stride(from: 0, to: toB.count, by: 300) { a.send(to: 2, Array(toB[chunk..<min(chunk + 300, toB.count)])) }
        b.send(to: 1, Array(toA[..<350]))
        b.send(to: 1, Array(toA[350...]))

        #expect(await T.eventually { inboxB.count(from: 1) == toB.count && inboxA.count(from: 2) == toA.count })
        let same1toB = Set(inboxB.envelopes(from: 1)) == Set(toB)
        #expect(same1toB, "received set differs from sent set")
        let same2toA = Set(inboxA.envelopes(from: 2)) == Set(toA)
        #expect(same2toA, "received set differs from sent set")
        expectPerGroupOrder(inboxB.envelopes(from: 1), toB)
        expectPerGroupOrder(inboxA.envelopes(from: 2), toA)

        let statsA = try await a.statistics()[2]
        #expect(statsA?.connected == true)
        #expect(statsA?.sentMessages == toB.count)
        #expect(statsA?.droppedMessages == 0)
        #expect((statsA?.sentBatches ?? 0) < toB.count, "messages must be batched")
        let statsB = try await b.statistics()[1]
        #expect(statsB?.connections == 1, "one connection per pair, accepted by the higher id")
        #expect(statsB?.receivedMessages == toB.count)
        #expect(inboxA.unreachable(2).isEmpty && inboxB.unreachable(1).isEmpty)

        try await a.stop()
        try await b.stop()
    }

    @Test func threeTransportsFormAFullMesh() async throws {
        let zones = ["a", "b", "c"]
        let inboxes = [Inbox(), Inbox(), Inbox()]
        var transports: [PeerTransport] = []
        for index in 0..<3 {
            transports.append(try await T.start(T.configuration(id: NodeID(index + 1), zone: zones[index]), inbox: inboxes[index]))
        }
        let addresses = transports.map(\.localAddress)
        for transport in transports { try await transport.setPeers(addresses) }

        for from in 1...3 {
            for to in 1...3 where to != from {
                transports[from - 1].send(to: NodeID(to), T.traffic(count: 300, from: NodeID(from), to: NodeID(to)))
            }
        }
        #expect(await T.eventually {
            (1...3).allSatisfy { to in (1...3).allSatisfy { from in from == to || inboxes[to - 1].count(from: NodeID(from)) == 300 } }
        })
        // Everyone sees every zone healthy once traffic has flowed.
        for transport in transports {
            let health = try await transport.health()
            #expect(zones.allSatisfy { health?.health(ofZone: $0) == .healthy })
        }
        for transport in transports { try await transport.stop() }
    }

    @Test func connectionRecoversWhenEitherPeerRestarts() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        let a = try await T.start(T.configuration(id: 1, zone: "a"), inbox: inboxA)
        let b = try await T.start(T.configuration(id: 2, zone: "b"), inbox: inboxB)
        try await a.setPeers([b.localAddress])
        try await b.setPeers([a.localAddress])
        a.send(to: 2, T.traffic(count: 10, from: 1, to: 2))
        #expect(await T.eventually { inboxB.count(from: 1) == 10 })

        // 1. The acceptor (b) goes away: a's sends are dropped and reported, a keeps retrying.
        try await b.stop()
        #expect(try await T.eventually { try await a.statistics()[2]?.connected == false })
        #expect(await T.eventually {
            a.send(to: 2, [T.append(group: 42, index: 1, from: 1, to: 2)])
            return inboxA.unreachable(2).contains(42)
        })

        // The restarted acceptor on the same port gets the dialer's reconnect.
        let inboxB2 = Inbox()
        let b2 = try await T.start(T.configuration(id: 2, zone: "b", port: b.localAddress.port, peers: [a.localAddress]), inbox: inboxB2)
        #expect(try await T.eventually { try await a.statistics()[2]?.connected == true })
        let afterRestart = T.traffic(count: 100, from: 1, to: 2)
        a.send(to: 2, afterRestart)
        b2.send(to: 1, T.traffic(count: 50, from: 2, to: 1))
        // Probes still queued when the connection came back may arrive too (group 42); nothing else may.
        let fresh = { inboxB2.envelopes(from: 1).filter { $0.groupID != 42 } }
        #expect(await T.eventually { fresh().count == 100 && inboxA.count(from: 2) == 50 })
        let delivered = Set(fresh()) == Set(afterRestart)
        #expect(delivered)
        #expect((try await a.statistics()[2]?.connections ?? 0) >= 2)

        // 2. The dialer (a) restarts: the acceptor takes the new connection.
        try await a.stop()
        #expect(try await T.eventually { try await b2.statistics()[1]?.connected == false })
        let inboxA2 = Inbox()
        let a2 = try await T.start(T.configuration(id: 1, zone: "a", port: a.localAddress.port, peers: [b2.localAddress]), inbox: inboxA2)
        #expect(try await T.eventually { try await b2.statistics()[1]?.connected == true })
        a2.send(to: 2, T.traffic(count: 20, from: 1, to: 2))
        b2.send(to: 1, T.traffic(count: 30, from: 2, to: 1))
        #expect(await T.eventually { fresh().count == 120 && inboxA2.count(from: 2) == 30 })

        try await a2.stop()
        try await b2.stop()
    }

    @Test func aStoppedPeerDoesNotBlockSendsToOthers() async throws {
        let inboxA = Inbox(), inboxB = Inbox(), inboxC = Inbox()
        var config = T.configuration(id: 1, zone: "a")
        config.maxQueuedMessages = 100
        let a = try await T.start(config, inbox: inboxA)
        let b = try await T.start(T.configuration(id: 2, zone: "b"), inbox: inboxB)
        let c = try await T.start(T.configuration(id: 3, zone: "c"), inbox: inboxC)
        try await a.setPeers([b.localAddress, c.localAddress])
        try await b.setPeers([a.localAddress])
        try await c.setPeers([a.localAddress])
        #expect(try await T.eventually { try await a.statistics().values.allSatisfy(\.connected) })
        try await c.stop()

        let toB = T.traffic(count: 3_000, from: 1, to: 2)
        for chunk in stride(from: 0, to: toB.count, by: 100) {
            a.send(to: 3, T.traffic(count: 100, from: 1, to: 3))
            a.send(to: 2, Array(toB[chunk..<chunk + 100]))
        }
        #expect(await T.eventually { inboxB.count(from: 1) == toB.count })
        let same1toB = Set(inboxB.envelopes(from: 1)) == Set(toB)
        #expect(same1toB, "received set differs from sent set")
        let statsC = try #require(try await a.statistics()[3])
        #expect(statsC.queuedMessages <= 100)
        #expect(statsC.droppedMessages > 0)
        #expect(!inboxA.unreachable(3).isEmpty)
        #expect(inboxA.unreachable(2).isEmpty)
        try await a.stop()
        try await b.stop()
    }

    @Test func aPeerThatNeverAcknowledgesIsBoundedByTheWindowAndQueue() async throws {
        let slow = try await SlowPeer.start(nodeID: 9)
        let inboxA = Inbox(), inboxB = Inbox()
        var config = T.configuration(id: 1, zone: "a")
        config.maxInFlightBatches = 2
        config.maxBatchMessages = 10
        config.maxQueuedMessages = 50
        config.stalledConnectionTimeout = nil  // the silent connection stays (see the next test)
        let a = try await T.start(config, inbox: inboxA)
        let b = try await T.start(T.configuration(id: 2, zone: "b"), inbox: inboxB)
        try await a.setPeers([b.localAddress, PeerAddress(id: 9, zone: "s", host: "127.0.0.1", port: slow.port)])
        try await b.setPeers([a.localAddress])
        #expect(try await T.eventually { try await a.statistics()[9]?.connected == true })

        // Flood the silent peer, then talk to b (whose window and queue are as small): b is not held up.
        for _ in 0..<100 { a.send(to: 9, T.traffic(count: 10, from: 1, to: 9)) }
        let toB = T.traffic(count: 1_000, from: 1, to: 2)
        for chunk in stride(from: 0, to: 1_000, by: 10) {
            a.send(to: 9, T.traffic(count: 10, from: 1, to: 9))
            a.send(to: 2, Array(toB[chunk..<chunk + 10]))
            #expect(await T.eventually { inboxB.count(from: 1) == chunk + 10 })
        }
        #expect(inboxA.unreachable(2).isEmpty)
        let stats = try #require(try await a.statistics()[9])
        #expect(stats.inFlightBatches == 2)
        #expect(stats.sentMessages <= 20)
        #expect(stats.queuedMessages <= 50)
        #expect(stats.droppedMessages >= 2_000 - 70)
        #expect(slow.batchesReceived() <= 2)
        #expect(!inboxA.unreachable(9).isEmpty)
        try await a.stop()
        try await b.stop()
        try await slow.stop()
    }

    /// A connection on which nothing arrives (pings unanswered: a partition, or TCP waiting out its
    /// retransmission backoff after one) is closed and dialed anew after the stalled-connection
    /// timeout, and the new attempt uses the quick connect timeout (the round trip is known).
    @Test func aSilentConnectionIsClosedAndDialedAnew() async throws {
        let silent = try await SlowPeer.start(nodeID: 9)
        let inbox = Inbox()
        var config = T.configuration(id: 1, zone: "a")
        config.pingInterval = .milliseconds(50)
        config.stalledConnectionTimeout = .milliseconds(300)
        let a = try await T.start(config, inbox: inbox)
        try await a.setPeers([PeerAddress(id: 9, zone: "s", host: "127.0.0.1", port: silent.port)])
        #expect(try await T.eventually { silent.handshakes() >= 1 })
        // Pongs never come back: after 300 ms the link is recycled, again and again.
        #expect(try await T.eventually(timeout: .seconds(20)) { silent.handshakes() >= 3 })
        let stats = try #require(try await a.statistics()[9])
        #expect(stats.stalledConnections >= 2)
        #expect(stats.stalledConnections <= silent.handshakes(), "one stall per connection, however long its close takes")
        try await a.stop()
        try await silent.stop()
    }

    /// A connection still delivering a large frame is alive, however long the frame takes: the
    /// stall check counts bytes, not whole frames. (Counting frames, a lagging follower's catch-up
    /// batch over a distant link was cut off and sent again forever: docs/node.md.)
    @Test func aLargeFrameArrivingSlowerThanTheStallTimeoutIsNotAStall() async throws {
        let payload = [UInt8](repeating: 7, count: 6_000)
        var message = Message(type: .append, from: 9, to: 1, term: 1)
        message.entries = [Entry(term: 1, index: 1, type: .normal, data: payload)]
        let batch = PeerFrame.batch(sequence: 1, envelopes: [PeerEnvelope(groupID: 3, message: message)])
        // About 6 KB at 100 bytes every 20 ms: 1.2 s, four times the 300 ms stall timeout.
        let trickling = try await TricklingPeer.start(nodeID: 9, batch: batch, chunkBytes: 100, every: .milliseconds(20))
        let inbox = Inbox()
        var config = T.configuration(id: 1, zone: "a")
        config.pingInterval = .milliseconds(50)
        config.stalledConnectionTimeout = .milliseconds(300)
        let a = try await T.start(config, inbox: inbox)
        try await a.setPeers([PeerAddress(id: 9, zone: "s", host: "127.0.0.1", port: trickling.port)])
        #expect(try await T.eventually { inbox.count(from: 9) == 1 }, "the slow batch never arrived whole")
        let stats = try #require(try await a.statistics()[9])
        #expect(stats.stalledConnections == 0)
        #expect(trickling.handshakes() == 1)
        try await a.stop()
        try await trickling.stop()
    }

    /// A connection that answers is never taken for stalled, however long it carries no batch.
    @Test func anIdleConnectionThatAnswersPingsIsKept() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        var configA = T.configuration(id: 1, zone: "a")
        configA.pingInterval = .milliseconds(50)
        configA.stalledConnectionTimeout = .milliseconds(300)
        let a = try await T.start(configA, inbox: inboxA)
        let b = try await T.start(T.configuration(id: 2, zone: "b"), inbox: inboxB)
        try await a.setPeers([b.localAddress])
        try await b.setPeers([a.localAddress])
        #expect(try await T.eventually { try await a.statistics()[2]?.connected == true })
        try await Task.sleep(for: .milliseconds(1500))
        let stats = try #require(try await a.statistics()[2])
        #expect(stats.stalledConnections == 0)
        #expect(stats.connections == 1)
        try await a.stop()
        try await b.stop()
    }

    /// Acks ride in front of the receiver's next batch; with nothing going back they follow on their
    /// own within `ackDelay`, so the sender's window never stays full.
    @Test func acknowledgementsRideOnRepliesOrFollowWithinTheAckDelay() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        var configA = T.configuration(id: 1, zone: "a")
        configA.maxInFlightBatches = 4
        var configB = T.configuration(id: 2, zone: "b")
        configB.ackDelay = .milliseconds(300)
        let a = try await T.start(configA, inbox: inboxA)
        let b = try await T.start(configB, inbox: inboxB)
        try await a.setPeers([b.localAddress])
        try await b.setPeers([a.localAddress])

        // Nothing goes back: b acknowledges on its own, and a's window empties.
        a.send(to: 2, [T.append(group: 1, index: 1, from: 1, to: 2)])
        #expect(await T.eventually { inboxB.count(from: 1) == 1 })
        #expect(try await T.eventually { try await a.statistics()[2]?.inFlightBatches == 0 })
        let standalone = try #require(try await b.statistics()[1]).sentAcks
        #expect(standalone >= 1)

        // Ping-pong: each reply from b carries the ack of a's batch.
        for round in 1...10 {
            a.send(to: 2, [T.append(group: 1, index: LogIndex(round + 1), from: 1, to: 2)])
            #expect(await T.eventually { inboxB.count(from: 1) == round + 1 })
            b.send(to: 1, [T.heartbeat(group: 1, from: 2, to: 1, commit: LogIndex(round))])
            #expect(await T.eventually { inboxA.count(from: 2) == round })
        }
        #expect(try await T.eventually { try await a.statistics()[2]?.inFlightBatches == 0 })
        let afterPingPong = try #require(try await b.statistics()[1]).sentAcks
        #expect(afterPingPong - standalone < 10, "acks must ride on b's replies")

        try await a.stop()
        try await b.stop()
    }

    @Test func messagesSurviveAnAcceptorThatDoesNotKnowTheDialerYet() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        let b = try await T.start(T.configuration(id: 2, zone: "b"), inbox: inboxB)
        let a = try await T.start(T.configuration(id: 1, zone: "a", peers: [b.localAddress]), inbox: inboxA)
        let messages = T.traffic(count: 100, from: 1, to: 2)
        a.send(to: 2, messages)
        // b refuses a's hellos until it learns about node 1; a keeps its queue and retries.
        try await Task.sleep(for: .milliseconds(100))
        #expect(inboxB.count(from: 1) == 0)
        try await b.setPeers([a.localAddress])
        #expect(await T.eventually { inboxB.count(from: 1) == 100 })
        #expect(try await a.statistics()[2]?.droppedMessages == 0)
        #expect(inboxA.unreachable(2).isEmpty)
        try await a.stop()
        try await b.stop()
    }

    @Test func inboundTrafficCanBeConsumedAsAnAsyncStream() async throws {
        let (handlers, stream) = PeerTransportHandlers.streaming()
        let b = try await PeerTransport.start(configuration: T.configuration(id: 2, zone: "b"),
                                              eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
                                              logger: T.quietLogger, handlers: handlers)
        let inboxA = Inbox()
        let a = try await T.start(T.configuration(id: 1, zone: "a", peers: [b.localAddress]), inbox: inboxA)
        try await b.setPeers([a.localAddress])
        let sent = T.traffic(count: 500, from: 1, to: 2)
        a.send(to: 2, sent)
        // Consume with a deadline so a missing delivery fails instead of hanging.
        let received = await withTaskGroup(of: [PeerEnvelope]?.self) { group in
            group.addTask {
                var received: [PeerEnvelope] = []
                for await delivery in stream where delivery.from == 1 {
                    received += delivery.envelopes
                    if received.count >= sent.count { break }
                }
                return received
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? []
        }
        let same = Set(received) == Set(sent)
        #expect(same)
        try await a.stop()
        try await b.stop()
    }

    @Test func helloFromAnotherClusterOrUnknownNodeIsRefused() async throws {
        let inbox = Inbox()
        let b = try await T.start(T.configuration(id: 2, zone: "b", peers: [PeerAddress(id: 1, zone: "a", host: "127.0.0.1", port: 1)]),
                                  inbox: inbox)
        for (cluster, node) in [("other-cluster", NodeID(1)), (T.clusterID, NodeID(77)), (T.clusterID, NodeID(3))] {
            var hello = Almanac_Raft_V1_PeerHello()
            hello.protocolVersion = 1
            hello.clusterID = cluster
            hello.nodeID = node
            let reply = try await RawPeerClient.exchange(port: b.localAddress.port, frames: [.hello(hello)])
            guard case .protocolError(let error)? = reply.frames.first else {
                Issue.record("expected a protocol error for cluster \(cluster) node \(node), got \(reply.frames)")
                continue
            }
            #expect(error.code == .protocolError)
            #expect(reply.closed)
        }
        // A connection that stays silent is refused after the hello timeout (shortened below).
        var quiet = T.configuration(id: 4, zone: "d")
        quiet.helloTimeout = .milliseconds(100)
        let d = try await T.start(quiet, inbox: Inbox())
        let silent = try await RawPeerClient.exchange(port: d.localAddress.port, frames: [])
        #expect(silent.frames.count == 1)
        #expect(silent.closed)
        try await d.stop()
        // Frames before the hello are refused too.
        let early = try await RawPeerClient.exchange(port: b.localAddress.port, frames: [.ping(nonce: 1, sentAtNanos: 1)])
        #expect(early.frames.count == 1)
        #expect(early.closed)
        try await b.stop()
    }

    @Test func healthTransitionsAreReportedWhenAPeerGoesAway() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        var config = T.configuration(id: 1, zone: "a")
        config.pingInterval = .milliseconds(20)
        // Generous thresholds: the suite runs in parallel on a loaded 2-core machine.
        config.healthThresholds = HealthThresholds(suspectAfterNanos: 600_000_000, downAfterNanos: 1_000_000_000)
        let a = try await T.start(config, inbox: inboxA)
        let b = try await T.start(T.configuration(id: 2, zone: "b"), inbox: inboxB)
        try await a.setPeers([b.localAddress])
        try await b.setPeers([a.localAddress])
        #expect(await T.eventually { inboxA.events.contains { if case .zone("b", _, .healthy, _) = $0 { true } else { false } } })
        // Pings alone keep an idle peer alive past the suspect threshold.
        try await Task.sleep(for: .milliseconds(800))
        #expect(try await a.health()?.liveness(of: 2) == .alive)

        try await b.stop()
        #expect(try await T.eventually { try await a.health()?.health(ofZone: "b") == .down })
        let transitions = inboxA.events.compactMap { event -> NodeLiveness? in
            if case .node(2, _, _, let to, _) = event { to } else { nil }
        }
        // (On a loaded machine the peer may have been suspected before the first contact.)
        #expect(transitions.suffix(3) == [.alive, .suspect, .down])
        try await a.stop()
    }
}
