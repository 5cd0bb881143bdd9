import AlmanacRaft

/// Counters of one peer link, for status output and tests.
public struct PeerLinkStatistics: Sendable, Hashable {
    public var peer: NodeID
    /// A connection is established and its hello exchange completed.
    public var connected = false
    public var queuedMessages = 0
    public var inFlightBatches = 0
    public var sentMessages = 0
    public var sentBatches = 0
    /// Acknowledgements written as frames of their own (not riding in front of a batch).
    public var sentAcks = 0
    public var receivedMessages = 0
    public var receivedBatches = 0
    /// Messages dropped: queue overflow, lost in flight on a broken connection, failed connects, oversize.
    public var droppedMessages = 0
    /// Connections accepted by both sides' hellos over the link's lifetime.
    public var connections = 0
    public var connectFailures = 0
    /// Connections closed because nothing arrived on them for the stalled-connection timeout.
    public var stalledConnections = 0
    /// The last ping round trip in nanoseconds, if any.
    public var lastRoundTripNanos: UInt64?

    public init(peer: NodeID) {
        self.peer = peer
    }
}
