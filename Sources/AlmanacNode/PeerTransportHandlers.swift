import AlmanacRaft
import AlmanacWire

/// Callbacks from a ``PeerTransport``. They run on the transport's event loop: return quickly and hand
/// work to the node's own executor (never block).
public struct PeerTransportHandlers: Sendable {
    /// Raft traffic that arrived from a peer node, in arrival order per connection.
    public var onReceive: @Sendable (_ from: NodeID, _ envelopes: [PeerEnvelope]) -> Void
    /// Messages to these groups of `peer` were dropped (queue overflow, connection lost or not
    /// established). The node should call `RaftNode.reportUnreachable(peer)` on each group.
    public var onUnreachable: @Sendable (_ peer: NodeID, _ groups: Set<GroupID>) -> Void
    /// A peer-liveness or zone-health transition (already logged by the transport).
    public var onHealthEvent: @Sendable (HealthEvent) -> Void

    public init(onReceive: @escaping @Sendable (NodeID, [PeerEnvelope]) -> Void,
                onUnreachable: @escaping @Sendable (NodeID, Set<GroupID>) -> Void = { _, _ in },
                onHealthEvent: @escaping @Sendable (HealthEvent) -> Void = { _ in }) {
        self.onReceive = onReceive
        self.onUnreachable = onUnreachable
        self.onHealthEvent = onHealthEvent
    }
}
