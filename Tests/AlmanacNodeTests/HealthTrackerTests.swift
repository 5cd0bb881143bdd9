import AlmanacNode
import AlmanacWire
import Testing

@Suite struct HealthTrackerTests {
    static let ms: UInt64 = 1_000_000
    static let thresholds = HealthThresholds(suspectAfterNanos: 100 * ms, downAfterNanos: 300 * ms)

    /// Local node 1 in zone a; peers 2 (zone b), 3 and 4 (zone c).
    private func makeTracker() -> HealthTracker {
        var tracker = HealthTracker(localNode: 1, localZone: "a", thresholds: Self.thresholds, now: 0)
        _ = tracker.addNode(2, zone: "b", now: 0)
        _ = tracker.addNode(3, zone: "c", now: 0)
        _ = tracker.addNode(4, zone: "c", now: 0)
        return tracker
    }

    @Test func newPeersAreUnknownAndTheirZonesDegraded() {
        let tracker = makeTracker()
        #expect(tracker.liveness(of: 1) == .alive)
        #expect(tracker.liveness(of: 2) == .unknown)
        #expect(tracker.health(ofZone: "a") == .healthy)
        #expect(tracker.health(ofZone: "b") == .degraded)
        #expect(tracker.health(ofZone: "c") == .degraded)
        #expect(tracker.liveness(of: 99) == nil)
    }

    @Test func hearingMakesAPeerAliveAndItsZoneHealthy() {
        var tracker = makeTracker()
        let events = tracker.heard(from: 2, at: 10 * Self.ms)
        #expect(events == [.node(2, zone: "b", from: .unknown, to: .alive, at: 10 * Self.ms),
                           .zone("b", from: .degraded, to: .healthy, at: 10 * Self.ms)])
        // Hearing again changes nothing.
        #expect(tracker.heard(from: 2, at: 20 * Self.ms).isEmpty)
    }

    @Test func silenceGoesSuspectThenDownThenBackToAlive() {
        var tracker = makeTracker()
        _ = tracker.heard(from: 2, at: 0)
        #expect(tracker.evaluate(now: 99 * Self.ms).filter { if case .node(2, _, _, _, _) = $0 { true } else { false } }.isEmpty)

        let suspect = tracker.evaluate(now: 150 * Self.ms)
        #expect(suspect.contains(.node(2, zone: "b", from: .alive, to: .suspect, at: 150 * Self.ms)))
        #expect(suspect.contains(.zone("b", from: .healthy, to: .degraded, at: 150 * Self.ms)))

        let down = tracker.evaluate(now: 300 * Self.ms)
        #expect(down.contains(.node(2, zone: "b", from: .suspect, to: .down, at: 300 * Self.ms)))
        #expect(down.contains(.zone("b", from: .degraded, to: .down, at: 300 * Self.ms)))
        #expect(tracker.evaluate(now: 400 * Self.ms).filter { if case .node(2, _, _, _, _) = $0 { true } else { false } }.isEmpty)

        let back = tracker.heard(from: 2, at: 500 * Self.ms)
        #expect(back == [.node(2, zone: "b", from: .down, to: .alive, at: 500 * Self.ms),
                         .zone("b", from: .down, to: .healthy, at: 500 * Self.ms)])
    }

    @Test func neverHeardPeersAlsoTimeOut() {
        var tracker = makeTracker()
        let events = tracker.evaluate(now: 300 * Self.ms)
        #expect(events.contains(.node(3, zone: "c", from: .unknown, to: .down, at: 300 * Self.ms)))
        #expect(events.contains(.zone("c", from: .degraded, to: .down, at: 300 * Self.ms)))
        // Node events come before zone events, nodes by id.
        let nodeIDs = events.compactMap { if case .node(let id, _, _, _, _) = $0 { id } else { nil } }
        #expect(nodeIDs == [2, 3, 4])
        #expect(events.prefix(3).allSatisfy { if case .node = $0 { true } else { false } })
    }

    @Test func zoneWithOneOfTwoNodesAliveIsDegradedNotDown() {
        var tracker = makeTracker()
        _ = tracker.heard(from: 3, at: 0)
        _ = tracker.heard(from: 4, at: 0)
        #expect(tracker.health(ofZone: "c") == .healthy)
        _ = tracker.heard(from: 3, at: 250 * Self.ms)
        _ = tracker.evaluate(now: 320 * Self.ms)
        #expect(tracker.liveness(of: 4) == .down)
        #expect(tracker.liveness(of: 3) == .alive)
        #expect(tracker.health(ofZone: "c") == .degraded)
    }

    @Test func clockGoingBackwardsCountsAsNoSilence() {
        var tracker = makeTracker()
        _ = tracker.heard(from: 2, at: 1_000 * Self.ms)
        #expect(tracker.evaluate(now: 500 * Self.ms).allSatisfy { if case .node(2, _, _, _, _) = $0 { false } else { true } })
        #expect(tracker.liveness(of: 2) == .alive)
    }

    @Test func removingAndMovingNodesUpdatesZones() {
        var tracker = makeTracker()
        _ = tracker.heard(from: 3, at: 0)
        // Zone c has 3 (alive) and 4 (unknown): degraded. Removing 4 makes it healthy.
        #expect(tracker.removeNode(4, now: 1) == [.zone("c", from: .degraded, to: .healthy, at: 1)])
        // Moving 3 to zone b (with unknown node 2) leaves zone c empty and b still degraded.
        _ = tracker.addNode(3, zone: "b", now: 2)
        #expect(tracker.health(ofZone: "c") == nil)
        #expect(tracker.health(ofZone: "b") == .degraded)
        // The local node cannot be removed or marked.
        #expect(tracker.removeNode(1, now: 3).isEmpty)
        #expect(tracker.heard(from: 1, at: 3).isEmpty)
    }

    @Test func statusMessagesForTheAPI() {
        var tracker = makeTracker()
        _ = tracker.heard(from: 2, at: 0)
        _ = tracker.evaluate(now: 350 * Self.ms)
        let nodes = tracker.nodeStatuses(now: 350 * Self.ms)
        #expect(nodes.map(\.nodeID) == [1, 2, 3, 4])
        #expect(nodes[1].health == .down)
        #expect(nodes[1].lastHeardMs == 350)
        let zones = tracker.zoneStatuses()
        #expect(zones.map(\.zone) == ["a", "b", "c"])
        #expect(zones.map(\.health) == [.healthy, .down, .down])
        #expect(zones[2].nodeIds == [3, 4])
    }
}
