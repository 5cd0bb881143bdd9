import AlmanacRaft
import AlmanacWire
import NIOCore

/// State of the connection to one peer. Confined to the transport's event loop.
final class PeerLink {
    struct Queued {
        var envelope: PeerEnvelope
        var size: Int
    }

    struct InFlightBatch {
        var sequence: UInt64
        var size: Int
        var envelopes: [PeerEnvelope]
    }

    var address: PeerAddress
    /// The node with the lower id dials; the other accepts. One connection per pair.
    let dials: Bool

    var queue = CircularBuffer<Queued>()
    var queuedBytes = 0

    /// The connection in use, if any.
    var channel: (any Channel)?
    /// Batches may be written: the hello exchange on `channel` completed.
    var ready = false
    var nextSequence: UInt64 = 1
    var inFlight = CircularBuffer<InFlightBatch>()
    var inFlightBytes = 0

    var connecting = false
    var reconnectTask: Scheduled<Void>?
    var backoff: ReconnectBackoff
    var flushScheduled = false
    /// The highest batch sequence received from the peer on `channel` and not acknowledged yet.
    var ackToSend: UInt64 = 0
    /// Batches received since the last acknowledgement went out.
    var batchesToAck = 0
    /// Sends `ackToSend` on its own if no batch carries it first.
    var ackTimer: Scheduled<Void>?
    var statistics: PeerLinkStatistics
    /// When something last arrived on `channel` (transport clock, nanoseconds), or when the
    /// connection was attached.
    var lastInboundNanos: UInt64 = 0

    init(address: PeerAddress, localID: NodeID, backoff: ReconnectBackoff) {
        self.address = address
        self.dials = localID < address.id
        self.backoff = backoff
        self.statistics = PeerLinkStatistics(peer: address.id)
    }

    /// Forgets the connection; returns the envelopes that were in flight on it.
    func detachConnection() -> [PeerEnvelope] {
        let lost = inFlight.flatMap(\.envelopes)
        ackTimer?.cancel()
        ackTimer = nil
        ackToSend = 0
        batchesToAck = 0
        channel = nil
        ready = false
        nextSequence = 1
        inFlight.removeAll()
        inFlightBytes = 0
        return lost
    }

    /// Empties the queue; returns what was queued.
    func drainQueue() -> [PeerEnvelope] {
        let drained = queue.map(\.envelope)
        queue.removeAll()
        queuedBytes = 0
        return drained
    }

    var snapshot: PeerLinkStatistics {
        var stats = statistics
        stats.connected = channel != nil && ready
        stats.queuedMessages = queue.count
        stats.inFlightBatches = inFlight.count
        return stats
    }
}
