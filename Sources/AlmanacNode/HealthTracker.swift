import AlmanacRaft

/// Peer liveness and zone health, as a pure value: the transport feeds it the times it hears from peers
/// (any inbound frame, including pongs) and evaluates it periodically; the clock is always passed in
/// (monotonic nanoseconds). Every transition is returned as a ``HealthEvent``.
///
/// The local node counts as alive in its own zone.
public struct HealthTracker: Sendable, Hashable {
    /// What the tracker knows about one node.
    public struct NodeRecord: Sendable, Hashable {
        public var id: NodeID
        public var zone: String
        public var liveness: NodeLiveness
        /// Last time a frame arrived from the node, if ever.
        public var lastHeard: UInt64?
        /// When tracking started; silence of a never-heard node is measured from here.
        public var trackedSince: UInt64
    }

    public let localNode: NodeID
    public let localZone: String
    public var thresholds: HealthThresholds
    public private(set) var nodes: [NodeID: NodeRecord] = [:]
    public private(set) var zones: [String: ZoneHealth] = [:]

    public init(localNode: NodeID, localZone: String, thresholds: HealthThresholds = HealthThresholds(), now: UInt64) {
        self.localNode = localNode
        self.localZone = localZone
        self.thresholds = thresholds
        nodes[localNode] = NodeRecord(id: localNode, zone: localZone, liveness: .alive, lastHeard: now, trackedSince: now)
        zones[localZone] = .healthy
    }

    /// Liveness of `node`, or nil if it is not tracked.
    public func liveness(of node: NodeID) -> NodeLiveness? { nodes[node]?.liveness }

    /// Health of `zone`, or nil if no tracked node is in it.
    public func health(ofZone zone: String) -> ZoneHealth? { zones[zone] }

    /// Starts tracking `node` in `zone` (its liveness starts `unknown`). Re-adding a node moves it to `zone`.
    public mutating func addNode(_ node: NodeID, zone: String, now: UInt64) -> [HealthEvent] {
        guard node != localNode else { return [] }
        let previousZone = nodes[node]?.zone
        if var record = nodes[node] {
            record.zone = zone
            nodes[node] = record
        } else {
            nodes[node] = NodeRecord(id: node, zone: zone, liveness: .unknown, lastHeard: nil, trackedSince: now)
        }
        var events: [HealthEvent] = []
        if let previousZone, previousZone != zone { events += recomputeZone(previousZone, now: now) }
        events += recomputeZone(zone, now: now)
        return events
    }

    /// Stops tracking `node`.
    public mutating func removeNode(_ node: NodeID, now: UInt64) -> [HealthEvent] {
        guard node != localNode, let record = nodes.removeValue(forKey: node) else { return [] }
        return recomputeZone(record.zone, now: now)
    }

    /// Records that a frame arrived from `node` at `now`. Unknown nodes are ignored.
    public mutating func heard(from node: NodeID, at now: UInt64) -> [HealthEvent] {
        guard node != localNode, var record = nodes[node] else { return [] }
        record.lastHeard = max(record.lastHeard ?? now, now)
        let previous = record.liveness
        guard previous != .alive else {
            nodes[node] = record
            return []
        }
        record.liveness = .alive
        nodes[node] = record
        return [.node(node, zone: record.zone, from: previous, to: .alive, at: now)] + recomputeZone(record.zone, now: now)
    }

    /// Applies the thresholds at time `now` and returns the transitions, node events (by id) before zone
    /// events (by name). A clock that goes backwards counts as no silence.
    public mutating func evaluate(now: UInt64) -> [HealthEvent] {
        var events: [HealthEvent] = []
        var touchedZones: Set<String> = []
        for id in nodes.keys.sorted() where id != localNode {
            guard var record = nodes[id] else { continue }
            let target = liveness(of: record, now: now)
            if target != record.liveness {
                events.append(.node(id, zone: record.zone, from: record.liveness, to: target, at: now))
                record.liveness = target
                nodes[id] = record
                touchedZones.insert(record.zone)
            }
        }
        for zone in touchedZones.sorted() {
            events += recomputeZone(zone, now: now)
        }
        return events
    }

    private func liveness(of record: NodeRecord, now: UInt64) -> NodeLiveness {
        let reference = record.lastHeard ?? record.trackedSince
        let silence = now >= reference ? now - reference : 0
        if silence >= thresholds.downAfterNanos { return .down }
        if silence >= thresholds.suspectAfterNanos { return .suspect }
        return record.lastHeard == nil ? .unknown : .alive
    }

    private mutating func recomputeZone(_ zone: String, now: UInt64) -> [HealthEvent] {
        let members = nodes.values.filter { $0.zone == zone }
        guard !members.isEmpty else {
            zones.removeValue(forKey: zone)
            return []
        }
        let health: ZoneHealth
        if members.allSatisfy({ $0.liveness == .alive }) {
            health = .healthy
        } else if members.allSatisfy({ $0.liveness == .down }) {
            health = .down
        } else {
            health = .degraded
        }
        let previous = zones[zone]
        zones[zone] = health
        guard let previous, previous != health else { return [] }
        return [.zone(zone, from: previous, to: health, at: now)]
    }
}
