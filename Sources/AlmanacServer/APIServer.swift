import AlmanacWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// The client-protocol TCP listener: length-prefixed protobuf frames (docs/api.md,
/// docs/wire-format.md), pipelined requests, answers from a ``MetadataService``.
///
/// A connection that violates the protocol (malformed, oversized or unknown frames) gets a
/// protocol-error frame and is closed; other connections are not affected.
public final class APIServer: Sendable {
    private let serverChannel: any Channel
    private let connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>
    private let statisticsBox: NIOLockedValueBox<APIServerStatistics>
    /// The bound address (useful with port 0).
    public let localAddress: SocketAddress

    private init(
        serverChannel: any Channel, connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>,
        statistics: NIOLockedValueBox<APIServerStatistics>, localAddress: SocketAddress
    ) {
        self.statisticsBox = statistics
        self.serverChannel = serverChannel
        self.connections = connections
        self.localAddress = localAddress
    }

    /// "host:port" of the bound address.
    public var endpoint: String {
        "\(localAddress.ipAddress ?? "127.0.0.1"):\(localAddress.port ?? 0)"
    }

    /// Binds and starts serving `service`.
    public static func start(
        service: any MetadataService, configuration: APIServerConfiguration = APIServerConfiguration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "almanac.api")
    ) async throws -> APIServer {
        let executor = RequestExecutor(
            service: service, translator: configuration.translator, observer: configuration.requestObserver,
            access: configuration.accessMonitor, authorizer: configuration.authorizer, placement: configuration.placement)
        let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let statistics = NIOLockedValueBox(APIServerStatistics())
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let key = ObjectIdentifier(channel)
                connections.withLockedValue { $0[key] = channel }
                channel.closeFuture.whenComplete { _ in _ = connections.withLockedValue { $0.removeValue(forKey: key) } }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls = configuration.tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    try sync.addWireCodec(
                        inbound: APIClientFrame.self, outbound: APIServerFrame.self,
                        maxFrameSize: configuration.maxFrameSize, drainTimeout: configuration.protocolErrorDrainTimeout)
                    try sync.addHandler(APIConnectionHandler(
                        executor: executor, configuration: configuration, logger: logger, statistics: statistics))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        guard let address = channel.localAddress else {
            try? await channel.close()
            throw APIServerError("the listener has no local address")
        }
        logger.info("API server listening", metadata: ["address": "\(address)"])
        return APIServer(serverChannel: channel, connections: connections, statistics: statistics, localAddress: address)
    }

    /// Counters since the server started.
    public var statistics: APIServerStatistics { statisticsBox.withLockedValue { $0 } }

    /// Number of open client connections.
    public var connectionCount: Int { connections.withLockedValue { $0.count } }

    /// Stops listening and closes every client connection.
    public func shutdown() async {
        try? await serverChannel.close()
        let open = connections.withLockedValue { Array($0.values) }
        for channel in open { try? await channel.close() }
    }
}

/// A failure to start the API server.
public struct APIServerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Counters of an ``APIServer``.
public struct APIServerStatistics: Sendable, Hashable {
    /// Requests dispatched to the service.
    public var requests = 0
    /// Requests answered UNAVAILABLE because their connection was at its outstanding limit.
    public var refusedOverLimit = 0
    /// Connections closed for a protocol violation.
    public var protocolViolations = 0

    public init() {}
}
