/// A node of the cluster: where it lives and how many operations per second it can serve.
public struct NodeSpec: Sendable, Hashable, Codable {
    public var name: String
    public var zone: ZoneIndex
    public var capacityOpsPerSec: Double

    public init(name: String, zone: ZoneIndex, capacityOpsPerSec: Double) {
        self.name = name
        self.zone = zone
        self.capacityOpsPerSec = capacityOpsPerSec
    }
}

/// Zones with their round-trip matrix, and the nodes in them.
public struct Topology: Sendable, Hashable {
    public let zoneNames: [String]
    /// Round-trip time in milliseconds between zones; `rttMs[a][a]` is the in-zone round trip.
    public let rttMs: [[Double]]
    public let nodes: [NodeSpec]
    /// Node ids per zone, in id order.
    public let nodesByZone: [[NodeIndex]]

    public init(zoneNames: [String], rttMs: [[Double]], nodes: [NodeSpec]) throws {
        let z = zoneNames.count
        guard z > 0 else { throw PlacementError.invalidConfiguration("no zones") }
        guard Set(zoneNames).count == z else { throw PlacementError.invalidConfiguration("duplicate zone names") }
        guard rttMs.count == z, rttMs.allSatisfy({ $0.count == z }) else {
            throw PlacementError.invalidConfiguration("rtt matrix must be \(z)x\(z)")
        }
        guard rttMs.joined().allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw PlacementError.invalidConfiguration("rtt values must be finite and >= 0")
        }
        var byZone = Array(repeating: [NodeIndex](), count: z)
        for (i, n) in nodes.enumerated() {
            guard (0..<z).contains(n.zone) else { throw PlacementError.unknownZone(n.zone) }
            guard n.capacityOpsPerSec > 0, n.capacityOpsPerSec.isFinite else {
                throw PlacementError.invalidConfiguration("node \(n.name): capacity must be > 0")
            }
            byZone[n.zone].append(i)
        }
        self.zoneNames = zoneNames
        self.rttMs = rttMs
        self.nodes = nodes
        self.nodesByZone = byZone
    }

    public var zoneCount: Int { zoneNames.count }

    /// Zone id for a zone name.
    public func zone(named name: String) -> ZoneIndex? { zoneNames.firstIndex(of: name) }

    /// Round trip between two zones in milliseconds.
    @inline(__always) public func rtt(_ a: ZoneIndex, _ b: ZoneIndex) -> Double { rttMs[a][b] }
}
