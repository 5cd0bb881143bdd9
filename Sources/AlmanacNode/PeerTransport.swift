import AlmanacRaft
import AlmanacWire
import Logging
import NIOCore

/// Raft traffic between nodes over TCP: one long-lived connection per pair of peers (the lower id dials),
/// length-prefixed protobuf frames, batches pipelined under a bounded in-flight window (acknowledged by the
/// receiver), one flush per batch round, heartbeats coalesced per node pair, reconnects with exponential
/// backoff and jitter. A slow or dead peer only fills its own bounded queue: overflow drops messages
/// (counted) and reports the groups through `onUnreachable`; `send` never blocks.
///
/// Everything runs on one event loop; ``send(to:_:)`` may be called from any thread.
public final class PeerTransport: Sendable {
    public let eventLoop: any EventLoop
    private let core: NIOLoopBoundBox<TransportCore?>
    /// Where the transport listens (resolved port when configured with port 0).
    public let localAddress: PeerAddress

    private init(eventLoop: any EventLoop, core: NIOLoopBoundBox<TransportCore?>, localAddress: PeerAddress) {
        self.eventLoop = eventLoop
        self.core = core
        self.localAddress = localAddress
    }

    /// Binds the listener and starts dialing the peers with higher ids.
    public static func start(configuration: PeerTransportConfiguration, eventLoop: any EventLoop,
                             logger: Logger, handlers: PeerTransportHandlers) async throws -> PeerTransport {
        let box = NIOLoopBoundBox.makeEmptyBox(valueType: TransportCore.self, eventLoop: eventLoop)
        let local = try await eventLoop.flatSubmit { () -> EventLoopFuture<PeerAddress> in
            let core = TransportCore(configuration: configuration, loop: eventLoop, logger: logger, handlers: handlers)
            core.box = box
            box.value = core
            return core.start().assumeIsolated().map { _ in core.configuration.local }.nonisolated()
        }.get()
        return PeerTransport(eventLoop: eventLoop, core: box, localAddress: local)
    }

    /// Queues `envelopes` for `peer` and flushes them (at once when called on the transport's loop,
    /// else as the loop's next task). Never blocks. Messages for unknown peers and
    /// messages that do not fit the peer's queue are dropped and reported through `onUnreachable`.
    public func send(to peer: NodeID, _ envelopes: [PeerEnvelope]) {
        guard !envelopes.isEmpty else { return }
        if eventLoop.inEventLoop {
            // The caller already gathered this round's messages for the peer: write them now
            // rather than after whatever else the loop has queued (the WAL hand-off, for one).
            core.value?.enqueue(envelopes, to: peer, flushNow: true)
        } else {
            let core = self.core
            eventLoop.execute { core.value?.enqueue(envelopes, to: peer) }
        }
    }

    /// Replaces the peer list: new peers are added (and dialed when this node has the lower id), changed
    /// addresses reconnect, missing peers are disconnected.
    public func setPeers(_ peers: [PeerAddress]) async throws {
        let core = self.core
        try await eventLoop.submit { core.value?.setPeers(peers) }.get()
    }

    /// Closes the connection to `peer` (it reconnects as after any drop, with backoff): for failure
    /// drills and tests of what a dropped connection loses.
    public func dropConnection(to peer: NodeID) async throws {
        let core = self.core
        try await eventLoop.submit { core.value?.dropConnection(to: peer) }.get()
    }

    /// Per-peer counters.
    public func statistics() async throws -> [NodeID: PeerLinkStatistics] {
        let core = self.core
        return try await eventLoop.submit { core.value?.statistics() ?? [:] }.get()
    }

    /// A copy of the current peer-liveness and zone-health view.
    public func health() async throws -> HealthTracker? {
        let core = self.core
        return try await eventLoop.submit { core.value?.health }.get()
    }

    /// Closes the listener and every connection. Further sends are ignored.
    public func stop() async throws {
        let core = self.core
        try await eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            guard let transport = core.value else { return core.eventLoop.makeSucceededVoidFuture() }
            return transport.stop().always { _ in
                core.value?.box = nil
                core.value = nil
            }
        }.get()
    }
}
