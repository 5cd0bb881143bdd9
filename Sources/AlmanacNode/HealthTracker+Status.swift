import AlmanacWire

extension HealthTracker {
    /// Node entries for the cluster status API (addresses are the caller's to fill in).
    public func nodeStatuses(now: UInt64) -> [Almanac_Api_V1_NodeStatus] {
        nodes.values.sorted { $0.id < $1.id }.map { record in
            var status = Almanac_Api_V1_NodeStatus()
            status.nodeID = record.id
            status.zone = record.zone
            status.health = Almanac_Api_V1_NodeHealth(record.liveness)
            if let heard = record.lastHeard {
                status.lastHeardMs = (now >= heard ? now - heard : 0) / 1_000_000
            }
            return status
        }
    }

    /// Zone entries for the cluster status API.
    public func zoneStatuses() -> [Almanac_Api_V1_ZoneStatus] {
        zones.keys.sorted().map { zone in
            var status = Almanac_Api_V1_ZoneStatus()
            status.zone = zone
            status.health = zones[zone].map(Almanac_Api_V1_ZoneHealth.init) ?? .unknown
            status.nodeIds = nodes.values.filter { $0.zone == zone }.map(\.id).sorted()
            return status
        }
    }
}

extension Almanac_Api_V1_NodeHealth {
    public init(_ liveness: NodeLiveness) {
        switch liveness {
        case .unknown: self = .unknown
        case .alive: self = .alive
        case .suspect: self = .suspect
        case .down: self = .down
        }
    }
}

extension Almanac_Api_V1_ZoneHealth {
    public init(_ health: ZoneHealth) {
        switch health {
        case .healthy: self = .healthy
        case .degraded: self = .degraded
        case .down: self = .down
        }
    }
}
