import AlmanacKeyspace
import AlmanacWire
import NIOCore
import NIOSSL

/// Settings of an ``AlmanacClient``.
public struct AlmanacClientConfiguration: Sendable {
    /// "host:port" client endpoints of the cluster's nodes (any subset; redirects find the rest).
    public var endpoints: [String]
    /// Deadline of one attempt on one connection.
    public var attemptTimeout: TimeAmount
    /// An attempt not answered after this long is also sent (same session and sequence) to another
    /// endpoint, and again every half of it until something useful comes back, so that a hung node
    /// (e.g. a paused leader) does not hold requests for the whole `attemptTimeout`; nil disables it.
    public var hedgeDelay: TimeAmount?
    /// Deadline of a whole operation, retries and redirects included.
    public var operationTimeout: TimeAmount
    public var connectTimeout: TimeAmount
    /// First and largest pause between retries (doubling in between).
    public var initialBackoff: TimeAmount
    public var maxBackoff: TimeAmount
    /// Largest pause between retries once a live server has answered that the shard has no leader
    /// it can point to (UNAVAILABLE, or NOT_LEADER naming no node or a node we failed to reach):
    /// the cluster is reachable and electing, an election ends within about a second, and a short
    /// pause serves from the new leader within this long of its election instead of sleeping out
    /// a backoff grown during the election (by refused connections to a killed leader, say). While
    /// no server answers at all, pauses grow up to `maxBackoff`.
    public var maxElectionBackoff: TimeAmount
    /// Span of sequence numbers in flight per session: a write is sent only while its number is
    /// within this distance of the oldest unanswered one. Must not exceed the servers' session
    /// result window (16 by default), so that every in-flight sequence number stays retryable.
    public var maxInFlightWritesPerSession: Int
    /// Requests in flight from this client at once (further callers wait). Keep it below the
    /// servers' per-connection limit (1024 by default) so pipelining never trips it.
    public var maxInFlightRequests: Int
    public var durability: Almanac_Api_V1_Durability
    public var consistency: Almanac_Api_V1_ReadConsistency
    public var maxFrameSize: Int
    /// Reported to the server when opening sessions (diagnostics only).
    public var clientName: String
    /// A shard map to start with instead of fetching one on first use (it is still refreshed after
    /// WRONG_SHARD). Nil: fetch from the cluster.
    public var initialShardMap: ShardMap? = nil
    /// TLS to the servers (nil: plaintext, for clusters started with `--insecure`). Build it with
    /// ``AlmanacClientConfiguration/tlsContext(trusting:)`` from the cluster CA's PEM file.
    public var tls: NIOSSLContext? = nil
    /// Access token sent with every request when the cluster checks tokens (`almanac ctl token
    /// issue`, docs/security.md); nil: none.
    public var authToken: String? = nil
    /// The zone this client runs in (one of the cluster's zone names), sent with every request so
    /// that placement counts the load where it comes from; nil: the receiving node's zone stands for it.
    public var zone: String? = nil

    public init(
        endpoints: [String], attemptTimeout: TimeAmount = .seconds(5), operationTimeout: TimeAmount = .seconds(30),
        connectTimeout: TimeAmount = .seconds(2), initialBackoff: TimeAmount = .milliseconds(20),
        maxBackoff: TimeAmount = .milliseconds(500), maxInFlightWritesPerSession: Int = 16, maxInFlightRequests: Int = 512,
        durability: Almanac_Api_V1_Durability = .majority, consistency: Almanac_Api_V1_ReadConsistency = .linearizable,
        maxFrameSize: Int = WireLimits.defaultClientMaxFrameSize, clientName: String = "almanac-swift-client",
        hedgeDelay: TimeAmount? = .milliseconds(200), maxElectionBackoff: TimeAmount = .milliseconds(100)
    ) {
        self.hedgeDelay = hedgeDelay
        self.maxElectionBackoff = maxElectionBackoff
        self.endpoints = endpoints
        self.attemptTimeout = attemptTimeout
        self.operationTimeout = operationTimeout
        self.connectTimeout = connectTimeout
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxInFlightWritesPerSession = max(1, maxInFlightWritesPerSession)
        self.maxInFlightRequests = max(1, maxInFlightRequests)
        self.durability = durability
        self.consistency = consistency
        self.maxFrameSize = maxFrameSize
        self.clientName = clientName
    }
}

extension AlmanacClientConfiguration {
    /// A TLS client context that trusts only the CA certificate(s) in the PEM file at `path` and
    /// checks that each server's certificate names the address dialed (docs/security.md).
    public static func tlsContext(trusting path: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
        configuration.certificateVerification = .fullVerification
        return try NIOSSLContext(configuration: configuration)
    }
}
