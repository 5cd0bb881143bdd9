import AlmanacWire
import NIOCore
import NIOSSL

/// Settings of a ``PeerTransport``. Defaults suit a LAN/loopback cluster.
public struct PeerTransportConfiguration: Sendable {
    /// What to drop when a peer's queue is full.
    public enum OverflowPolicy: Sendable, Hashable {
        /// Drop the oldest queued message (newer Raft messages supersede older ones). Default.
        case dropOldest
        /// Reject the message being sent.
        case dropNewest
    }

    /// This node; `host`/`port` is where it listens (port 0 picks a free port).
    public var local: PeerAddress
    /// Peers must present the same cluster id in their hello.
    public var clusterID: String
    public var peers: [PeerAddress]

    /// Largest frame accepted or sent on peer connections.
    public var maxFrameSize: Int = WireLimits.defaultPeerMaxFrameSize
    /// Batches sent but not yet acknowledged, per peer.
    public var maxInFlightBatches: Int = 64
    /// Estimated bytes sent but not yet acknowledged, per peer (one batch may exceed it when alone).
    public var maxInFlightBytes: Int = 16 << 20
    /// Messages per batch frame.
    public var maxBatchMessages: Int = 4096
    /// Estimated bytes per batch frame.
    public var maxBatchBytes: Int = 1 << 20
    /// Messages waiting per peer (not yet in flight) before the overflow policy applies.
    public var maxQueuedMessages: Int = 16_384
    /// Estimated bytes waiting per peer before the overflow policy applies.
    public var maxQueuedBytes: Int = 64 << 20
    public var overflowPolicy: OverflowPolicy = .dropOldest
    /// Reconnect backoff for peers this node dials.
    public var reconnectBackoff = ReconnectBackoff()
    public var connectTimeout: TimeAmount = .seconds(1)
    /// Reconnects to a peer whose round trip is known (it was connected before) time out after
    /// max(this, 8 round trips), at most `connectTimeout`: after a partition heals, the kernel
    /// retransmits a SYN it sent during the partition only 1 s later, while a fresh attempt
    /// connects at once.
    public var quickConnectTimeout: TimeAmount = .milliseconds(200)
    /// A connection on which no byte arrived for this long (a large frame still arriving counts as
    /// traffic), while this node pinged it every
    /// `pingInterval`, is closed and dialed anew (nil: never). After packets were dropped (a
    /// partition, a flapping link), TCP retransmits with exponential backoff, so a connection can
    /// stay silent for seconds after the network heals; a new connection does not wait for that.
    public var stalledConnectionTimeout: TimeAmount? = .seconds(1)
    /// An accepted connection that sends no hello within this time is refused and closed.
    public var helloTimeout: TimeAmount = .seconds(5)
    /// The longest a received batch waits for its acknowledgement. Acks ride in front of the next
    /// batch going back to the peer (Raft's responses usually follow within a sync); only when none
    /// goes out within this delay, or half the peer's in-flight window is unacknowledged, is a
    /// separate ack frame written. Zero acknowledges every read burst at once.
    public var ackDelay: TimeAmount = .milliseconds(5)
    /// How often connected peers are pinged and health is evaluated.
    public var pingInterval: TimeAmount = .milliseconds(200)
    public var healthThresholds = HealthThresholds()
    /// Mutual TLS on every peer connection, both directions (nil: plaintext, `--insecure`): the
    /// context presents this node's certificate and accepts only peers signed by the cluster CA
    /// (AlmanacSecurity's `TLSFiles.makePeerContext`, docs/security.md).
    public var tls: NIOSSLContext? = nil

    public init(local: PeerAddress, clusterID: String, peers: [PeerAddress]) {
        self.local = local
        self.clusterID = clusterID
        self.peers = peers
    }
}
