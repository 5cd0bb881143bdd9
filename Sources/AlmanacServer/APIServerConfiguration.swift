import AlmanacWire
import NIOCore
import NIOSSL

/// Settings of an ``APIServer``.
public struct APIServerConfiguration: Sendable {
    /// Address to listen on; port 0 picks a free port (see ``APIServer/localAddress``).
    public var host: String
    public var port: Int
    /// Largest accepted frame (length prefix value); larger frames get TOO_LARGE and a close.
    public var maxFrameSize: Int
    /// Requests a connection may have outstanding. At the limit the server stops reading from the
    /// connection (TCP back-pressure); requests already decoded beyond it get UNAVAILABLE.
    public var maxOutstandingPerConnection: Int
    /// Deadline for a request that sets no `timeout_ms`.
    public var defaultTimeout: TimeAmount
    /// Upper bound on a client's `timeout_ms`.
    public var maxTimeout: TimeAmount
    /// Grace period after a protocol error before the connection is closed without the peer's FIN.
    public var protocolErrorDrainTimeout: TimeAmount
    public var translator: RequestTranslator
    /// Sees every request and its response (metrics, see docs/operations.md); nil: none.
    public var requestObserver: (any RequestObserver)? = nil
    /// Counts requests per segment for the access monitor (`ctl shards`, the placement deciders).
    public var accessMonitor: SegmentAccessMonitor? = nil
    /// TLS on every client connection (nil: plaintext, `--insecure`); AlmanacSecurity's
    /// `TLSFiles.makeAPIServerContext` (docs/security.md).
    public var tls: NIOSSLContext? = nil
    /// Token and path checks before execution (docs/security.md); nil: every request is served.
    public var authorizer: RequestAuthorizer? = nil
    /// Where placement calls go (installed by the control plane once the map store is up); nil:
    /// the server answers them UNSUPPORTED.
    public var placement: PlacementCallEndpoint? = nil

    public init(
        host: String = "127.0.0.1", port: Int = 0, maxFrameSize: Int = WireLimits.defaultClientMaxFrameSize,
        maxOutstandingPerConnection: Int = 1024, defaultTimeout: TimeAmount = .seconds(10),
        maxTimeout: TimeAmount = .seconds(60), protocolErrorDrainTimeout: TimeAmount = .seconds(2),
        translator: RequestTranslator = RequestTranslator()
    ) {
        self.host = host
        self.port = port
        self.maxFrameSize = maxFrameSize
        self.maxOutstandingPerConnection = max(1, maxOutstandingPerConnection)
        self.defaultTimeout = defaultTimeout
        self.maxTimeout = maxTimeout
        self.protocolErrorDrainTimeout = protocolErrorDrainTimeout
        self.translator = translator
    }
}
