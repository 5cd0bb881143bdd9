import AlmanacClient
import AlmanacControl
import AlmanacKeyspace
import Foundation

/// What the controller reads of the cluster in one pass: members, client addresses, the nodes
/// that do not answer, and every node's own status (its access monitor's series).
public struct ClusterLoadView: Sendable {
    public var members: [NodeID: ZoneName]
    public var addresses: [NodeID: String]
    public var down: Set<NodeID>
    public var statuses: [ClusterStatus]

    /// The monitors' bucket length (the first node that reports one).
    public var bucketSeconds: Double? {
        statuses.first { $0.accessBucketSeconds > 0 }.map { Double($0.accessBucketSeconds) }
    }
}

/// Reads a ``ClusterLoadView`` over the client protocol (one status call to the cluster, one to
/// each node), keeping one client per node address.
public actor ClusterLoadReader {
    let configuration: AlmanacClientConfiguration
    let client: AlmanacClient
    private var probes: [String: AlmanacClient] = [:]

    /// `configuration`: how to reach the cluster (endpoints, TLS, token).
    public init(configuration: AlmanacClientConfiguration) {
        self.configuration = configuration
        client = AlmanacClient(configuration: configuration)
    }

    public func shutdown() async {
        await client.shutdown()
        for probe in probes.values { await probe.shutdown() }
        probes = [:]
    }

    public func read() async throws -> ClusterLoadView {
        let status = try await client.status()
        var statuses: [ClusterStatus] = []
        var down: Set<NodeID> = []
        for node in status.nodes where !node.clientAddress.isEmpty {
            if let answer = try? await probe(node.clientAddress).status(), answer.responderNodeID == node.nodeID {
                statuses.append(answer)
            } else {
                down.insert(node.nodeID)
            }
        }
        return ClusterLoadView(
            members: Dictionary(status.nodes.map { ($0.nodeID, $0.zone) }, uniquingKeysWith: { first, _ in first }),
            addresses: Dictionary(status.nodes.map { ($0.nodeID, $0.clientAddress) }, uniquingKeysWith: { first, _ in first }),
            down: down, statuses: statuses)
    }

    /// The status client of one node (made on first use, kept: TLS handshakes are not free).
    private func probe(_ address: String) -> AlmanacClient {
        if let existing = probes[address] { return existing }
        var one = configuration
        one.endpoints = [address]
        one.attemptTimeout = .seconds(2)
        one.operationTimeout = .seconds(2)
        one.hedgeDelay = nil
        one.clientName = "almanac-controller-probe"
        let made = AlmanacClient(configuration: one)
        probes[address] = made
        return made
    }

    /// The complete buckets the nodes report, each summed over the nodes, oldest first, from the
    /// oldest bucket with any request to the newest complete one (empty buckets included).
    public static func observations(_ statuses: [ClusterStatus], now: Double) -> [BucketObservation] {
        var requests: [Int64: [SegmentID: [ZoneName: Double]]] = [:]
        var reads: [SegmentID: Double] = [:]
        var writes: [SegmentID: Double] = [:]
        for status in statuses where status.accessBucketSeconds > 0 {
            // The series end at the node's newest complete bucket (older nodes do not say: the reader's clock).
            let current = status.accessLastBucket > 0 ? status.accessLastBucket + 1 : Int64((now / Double(status.accessBucketSeconds)).rounded(.down))
            for load in status.segmentLoads {
                let segment = SegmentID(truncatingIfNeeded: load.segment)
                reads[segment, default: 0] += Double(load.reads)
                writes[segment, default: 0] += Double(load.writes)
                for zoneLoad in load.zoneLoads {
                    let first = current - Int64(zoneLoad.buckets.count)
                    for (offset, count) in zoneLoad.buckets.enumerated() where count > 0 {
                        requests[first + Int64(offset), default: [:]][segment, default: [:]][zoneLoad.zone, default: 0] += Double(count)
                    }
                }
            }
        }
        var writeFraction: [SegmentID: Double] = [:]
        for (segment, r) in reads {
            let w = writes[segment] ?? 0
            if r + w > 0 { writeFraction[segment] = w / (r + w) }
        }
        guard let first = requests.keys.min(), let last = requests.keys.max() else { return [] }
        // The newest bucket every node has completed (a bucket one node has not closed yet waits).
        let newest = statuses.compactMap { status -> Int64? in
            guard status.accessBucketSeconds > 0 else { return nil }
            return status.accessLastBucket > 0 ? status.accessLastBucket : Int64((now / Double(status.accessBucketSeconds)).rounded(.down)) - 1
        }.min() ?? last
        guard newest >= first else { return [] }
        return (first...newest).map { BucketObservation(bucket: $0, requests: requests[$0] ?? [:], writeFraction: writeFraction) }
    }
}
