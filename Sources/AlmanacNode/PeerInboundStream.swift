import AlmanacRaft
import AlmanacWire

/// Raft traffic from one peer, as delivered by ``PeerTransport``.
public struct PeerInbound: Sendable, Hashable {
    public var from: NodeID
    public var envelopes: [PeerEnvelope]

    public init(from: NodeID, envelopes: [PeerEnvelope]) {
        self.from = from
        self.envelopes = envelopes
    }
}

extension PeerTransportHandlers {
    /// Handlers that deliver received traffic into an `AsyncStream` instead of a callback, so a node can
    /// consume it from its own task. The stream buffers at most `limit` deliveries; beyond that the oldest
    /// are dropped (Raft retransmits), and `onOverflow` is called with the number of envelopes dropped.
    public static func streaming(
        bufferingNewest limit: Int = 4_096,
        onUnreachable: @escaping @Sendable (NodeID, Set<GroupID>) -> Void = { _, _ in },
        onHealthEvent: @escaping @Sendable (HealthEvent) -> Void = { _ in },
        onOverflow: @escaping @Sendable (Int) -> Void = { _ in }
    ) -> (handlers: PeerTransportHandlers, stream: AsyncStream<PeerInbound>) {
        let (stream, continuation) = AsyncStream.makeStream(of: PeerInbound.self, bufferingPolicy: .bufferingNewest(limit))
        let handlers = PeerTransportHandlers(
            onReceive: { from, envelopes in
                if case .dropped(let oldest) = continuation.yield(PeerInbound(from: from, envelopes: envelopes)) {
                    onOverflow(oldest.envelopes.count)
                }
            },
            onUnreachable: onUnreachable,
            onHealthEvent: onHealthEvent)
        return (handlers, stream)
    }
}
