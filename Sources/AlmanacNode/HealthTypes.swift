import AlmanacRaft

/// How a node sees one peer.
public enum NodeLiveness: String, Sendable, Hashable, CaseIterable {
    /// Never heard from, and not silent long enough to suspect it.
    case unknown
    /// Heard from within the suspect threshold.
    case alive
    /// Silent for at least the suspect threshold.
    case suspect
    /// Silent for at least the down threshold.
    case down
}

/// Health of a zone, from the liveness of its nodes.
public enum ZoneHealth: String, Sendable, Hashable, CaseIterable {
    /// Every node in the zone is alive.
    case healthy
    /// Some node is alive or not known to be down, but not all are alive.
    case degraded
    /// Every node in the zone is down.
    case down
}

/// When silence turns into suspicion and then into "down". Times are nanoseconds.
public struct HealthThresholds: Sendable, Hashable {
    public var suspectAfterNanos: UInt64
    public var downAfterNanos: UInt64

    /// `downAfter` is raised to `suspectAfter` if smaller.
    public init(suspectAfterNanos: UInt64 = 1_000_000_000, downAfterNanos: UInt64 = 3_000_000_000) {
        self.suspectAfterNanos = suspectAfterNanos
        self.downAfterNanos = max(downAfterNanos, suspectAfterNanos)
    }
}

/// A health transition, for logging and the status API. `at` is the tracker's clock (nanoseconds).
public enum HealthEvent: Sendable, Hashable, CustomStringConvertible {
    case node(NodeID, zone: String, from: NodeLiveness, to: NodeLiveness, at: UInt64)
    case zone(String, from: ZoneHealth, to: ZoneHealth, at: UInt64)

    public var description: String {
        switch self {
        case .node(let id, let zone, let from, let to, _): "node \(id) (zone \(zone)): \(from) -> \(to)"
        case .zone(let zone, let from, let to, _): "zone \(zone): \(from) -> \(to)"
        }
    }
}
