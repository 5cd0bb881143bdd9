import AlmanacMetadata
import AlmanacServer
import Testing

/// The node-side access monitor: every routed request counts for the segment of its routing inode.
@Suite struct SegmentAccessMonitorTests {
    @Test func requestsCountForTheSegmentOfTheirRoutingInodeWithinTheWindow() throws {
        let monitor = try SegmentAccessMonitor(zoneNames: ["zone-a", "zone-b", "zone-c"], zone: "zone-b", bucketSeconds: 10, windowBuckets: 6, segmentCount: 4096)
        let directory = InodeID(segment: 700, counter: 3)
        let session = SessionRef(id: 1, sequence: 1)
        let now = 1_000_000.0
        for _ in 0..<3 {
            monitor.record(.write(shard: 2, operation: .create(parent: directory, name: "f", mode: 0o644, uid: 0, gid: 0),
                                  session: session, durability: .majority), now: now)
        }
        monitor.record(.read(shard: 2, consistency: .linearizable, query: .lookup(parent: directory, name: "f")), now: now)
        monitor.record(.read(shard: 0, consistency: .stale, query: .getattr(.root)), now: now + 5)
        // Session commands and status requests name no segment.
        monitor.record(.write(shard: 2, operation: .keepAlive, session: session, durability: .majority), now: now)
        monitor.record(.clusterStatus(stateDigests: false), now: now)
        let loads = monitor.loads(now: now + 5)
        #expect(loads.map(\.segment) == [0, 700])
        #expect(loads.first { $0.segment == 700 }.map { ($0.reads, $0.writes) } ?? (0, 0) == (1, 3))
        #expect(loads.first { $0.segment == 0 }.map { ($0.reads, $0.writes) } ?? (0, 0) == (1, 0))
        // A minute later (past the 6 x 10 s window) nothing is left.
        #expect(monitor.loads(now: now + 120).isEmpty)
        #expect(monitor.windowSeconds == 60)
    }

    @Test func requestsCountForTheZoneTheClientNamesElseTheNodes() throws {
        let monitor = try SegmentAccessMonitor(zoneNames: ["zone-a", "zone-b", "zone-c"], zone: "zone-b", bucketSeconds: 10, windowBuckets: 6, segmentCount: 4096)
        let directory = InodeID(segment: 9, counter: 3)
        let lookup = RoutedRequest.read(shard: 1, consistency: .linearizable, query: .lookup(parent: directory, name: "f"))
        let now = 1_000_000.0
        monitor.record(lookup, clientZone: "zone-c", now: now)
        monitor.record(lookup, clientZone: "zone-c", now: now)
        monitor.record(lookup, clientZone: nil, now: now)
        monitor.record(lookup, clientZone: "zone-nowhere", now: now)
        let series = monitor.zoneBucketSeries(now: now + 10)
        #expect(series[9]?["zone-c"]?.last == 2)
        #expect(series[9]?["zone-b"]?.last == 2)
        #expect(series[9]?["zone-a"] == nil)
        #expect(monitor.bucketSeries(now: now + 10)[9]?.last == 4)
    }
}
