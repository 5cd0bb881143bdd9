import AlmanacWire
import Foundation

/// What the live console shows (docs/operations.md, "Console"): the cluster as one node sees it,
/// the heat per segment added up over the nodes that answered, and the placement control plane's
/// panes (who runs the controller, forecast against actual load, moves in flight, decision audit),
/// nil on a node without a control plane (the page then says so).
public struct ConsoleState: Encodable, Sendable {
    public struct Zone: Encodable, Sendable { public var name: String; public var health: String; public var nodes: [UInt64] }
    public struct Node: Encodable, Sendable {
        public var id: UInt64, zone: String, health: String, lastHeardMs: UInt64, clientAddress: String
    }
    public struct Replica: Encodable, Sendable { public var node: UInt64; public var zone: String; public var role: String }
    public struct Shard: Encodable, Sendable {
        public var id: UInt64, leader: UInt64, term: UInt64, commitIndex: UInt64, appliedIndex: UInt64
        public var replicas: [Replica]
        /// Segments the responding replica's state machine owns (-1: not reported).
        public var segments: Int = -1
    }
    public struct SegmentHeat: Encodable, Sendable { public var segment: UInt32, shard: UInt32, reads: UInt64, writes: UInt64 }
    public struct Heat: Encodable, Sendable {
        public var windowSeconds: UInt32
        /// The nodes whose access monitors were added up (a node that did not answer is missing).
        public var nodesCounted: [UInt64]
        public var segments: [SegmentHeat]
    }
    /// Forecast against actual load of one segment in the newest complete bucket, and the forecast
    /// of the bucket after it (requests, all zones; placement control plane).
    public struct ForecastPoint: Encodable, Sendable {
        public var segment: UInt32, shard: UInt32, forecast: Double, actual: Double, next: Double
        public init(segment: UInt32, shard: UInt32, forecast: Double, actual: Double, next: Double) {
            self.segment = segment; self.shard = shard; self.forecast = forecast; self.actual = actual; self.next = next
        }
    }
    /// A move in flight: a segment hand-off or a replica migration, as its intent stands in the map.
    public struct Move: Encodable, Sendable {
        public var kind: String, subject: String, from: String, to: String, phase: String, since: String
        public init(kind: String, subject: String, from: String, to: String, phase: String, since: String) {
            self.kind = kind; self.subject = subject; self.from = from; self.to = to; self.phase = phase; self.since = since
        }
    }
    /// One decision of the placement controller and why (placement control plane).
    public struct AuditEntry: Encodable, Sendable {
        public var at: String, decision: String, reason: String
        public init(at: String, decision: String, reason: String) { self.at = at; self.decision = decision; self.reason = reason }
    }

    public var servedBy: UInt64
    public var generatedAt: String
    /// Why the cluster view is missing or partial (nil when complete).
    public var error: String?
    public var zones: [Zone] = []
    public var nodes: [Node] = []
    public var shards: [Shard] = []
    public var heat = Heat(windowSeconds: 0, nodesCounted: [], segments: [])
    /// Who runs the placement controller (nil: this node has no control plane, e.g. a static map).
    public var controller: String? = nil
    public var forecast: [ForecastPoint]? = nil
    /// Why `forecast` is missing while a control plane runs (too little history).
    public var forecastNote: String? = nil
    public var moves: [Move]? = nil
    public var audit: [AuditEntry]? = nil

    public init(servedBy: UInt64, now: Date = Date(), error: String? = nil) {
        self.servedBy = servedBy
        self.generatedAt = ISO8601DateFormatter().string(from: now)
        self.error = error
    }

    /// The view of `status` (one node's cluster status) with the heat of `loads` (every node's
    /// cluster status that answered, for their access monitors).
    public init(status: Almanac_Api_V1_ClusterStatus, loads: [Almanac_Api_V1_ClusterStatus], now: Date = Date()) {
        self.init(servedBy: status.responderNodeID, now: now)
        zones = status.zones.map { Zone(name: $0.zone, health: Self.name($0.health), nodes: $0.nodeIds) }
        nodes = status.nodes.map {
            Node(id: $0.nodeID, zone: $0.zone, health: Self.name($0.health), lastHeardMs: $0.lastHeardMs, clientAddress: $0.clientAddress)
        }
        shards = status.shards.map { shard in
            Shard(id: shard.shardID, leader: shard.leaderNodeID, term: shard.term, commitIndex: shard.commitIndex,
                  appliedIndex: shard.appliedIndex,
                  replicas: shard.replicas.map { Replica(node: $0.nodeID, zone: $0.zone, role: Self.name($0.role)) },
                  segments: shard.ownershipKnown ? shard.ownedSegments.reduce(0) { $0 + Int($1.last) - Int($1.first) + 1 } : -1)
        }
        var sum: [UInt32: SegmentHeat] = [:]
        for answer in loads {
            for load in answer.segmentLoads {
                var total = sum[load.segment] ?? SegmentHeat(segment: load.segment, shard: load.shard, reads: 0, writes: 0)
                total.reads += load.reads
                total.writes += load.writes
                sum[load.segment] = total
            }
        }
        heat = Heat(windowSeconds: loads.map(\.accessWindowSeconds).max() ?? 0, nodesCounted: loads.map(\.responderNodeID).sorted(),
                    segments: sum.values.sorted { ($0.reads + $0.writes, $1.segment) > ($1.reads + $1.writes, $0.segment) })
    }

    static func name(_ health: Almanac_Api_V1_NodeHealth) -> String {
        switch health {
        case .alive: "alive"
        case .suspect: "suspect"
        case .down: "down"
        default: "unknown"
        }
    }

    static func name(_ health: Almanac_Api_V1_ZoneHealth) -> String {
        switch health {
        case .healthy: "healthy"
        case .degraded: "degraded"
        case .down: "down"
        default: "unknown"
        }
    }

    static func name(_ role: Almanac_Api_V1_ReplicaRole) -> String {
        switch role {
        case .leader: "leader"
        case .follower: "follower"
        case .candidate: "candidate"
        case .learner: "learner"
        default: "unknown"
        }
    }

    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(self))) ?? Array("{\"error\":\"cannot encode the console state\"}".utf8)
    }
}
