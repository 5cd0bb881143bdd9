import AlmanacWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Why a single attempt on one connection failed (the client decides whether to retry elsewhere).
enum ConnectionFailure: Error, Sendable {
    /// Could not connect, or the connection closed before the answer came.
    case connection(String)
    /// No answer within the attempt's deadline.
    case timedOut(String)
    /// A protocol-error frame came from the server (or we could not encode the request).
    case protocolViolation(String)
}

/// A request waiting to be written, with the promise its response completes.
struct PendingRequest {
    var request: Almanac_Api_V1_Request
    var promise: EventLoopPromise<Almanac_Api_V1_Response>
    var timeout: TimeAmount
}

/// Client side of one connection: matches responses to requests by id, times requests out, and
/// fails everything outstanding when the connection goes away.
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = APIServerFrame
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = APIClientFrame

    private var pending: [UInt64: (promise: EventLoopPromise<Almanac_Api_V1_Response>, timer: Scheduled<Void>)] = [:]
    private var closed = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let item = unwrapOutboundIn(data)
        let id = item.request.requestID
        guard !closed else {
            item.promise.fail(ConnectionFailure.connection("connection is closed"))
            promise?.fail(ConnectionFailure.connection("connection is closed"))
            return
        }
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let timeout = item.timeout
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            bound.value.handler.fail(id, ConnectionFailure.timedOut("no response within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        pending[id] = (item.promise, timer)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { error in
            bound.value.handler.fail(id, ConnectionFailure.connection("write failed: \(error)"))
        }
        context.write(wrapOutboundOut(.request(item.request)), promise: written)
        promise?.succeed()
    }

    private func fail(_ id: UInt64, _ failure: ConnectionFailure) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        entry.timer.cancel()
        entry.promise.fail(failure)
    }

    private func failAll(_ failure: ConnectionFailure) {
        closed = true
        let all = pending
        pending.removeAll()
        for entry in all.values {
            entry.timer.cancel()
            entry.promise.fail(failure)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .response(let response):
            guard let entry = pending.removeValue(forKey: response.requestID) else { return }  // timed out earlier
            entry.timer.cancel()
            entry.promise.succeed(response)
        case .protocolError(let error):
            failAll(.protocolViolation("server reported a protocol error: \(error.message)"))
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let violation = event as? WireProtocolViolation {
            failAll(.protocolViolation("server sent an invalid frame: \(violation.error)"))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connection("connection closed by the server"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.connection("connection error: \(error)"))
        context.close(promise: nil)
    }
}

/// One TCP connection to one endpoint. Many requests may be in flight at once (pipelining).
final class ClientConnection: Sendable {
    let endpoint: String
    private let channel: any Channel
    private let nextRequestID = NIOLockedValueBox<UInt64>(1)

    private init(endpoint: String, channel: any Channel) {
        self.endpoint = endpoint
        self.channel = channel
    }

    var isActive: Bool { channel.isActive }

    static func connect(
        to endpoint: String, group: any EventLoopGroup, timeout: TimeAmount, maxFrameSize: Int
    ) async throws(ConnectionFailure) -> ClientConnection {
        guard let (host, port) = Endpoint.parse(endpoint) else {
            throw .connection("bad endpoint \"\(endpoint)\" (expected host:port)")
        }
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addWireCodec(inbound: APIServerFrame.self, outbound: APIClientFrame.self, maxFrameSize: maxFrameSize)
                        try sync.addHandler(ClientConnectionHandler())
                    }
                }
                .connect(host: host, port: port)
                .get()
            return ClientConnection(endpoint: endpoint, channel: channel)
        } catch {
            throw .connection("cannot connect to \(endpoint): \(error)")
        }
    }

    /// Sends `request` (its request id is assigned here) and waits for the response.
    func send(_ request: Almanac_Api_V1_Request, timeout: TimeAmount) async throws(ConnectionFailure) -> Almanac_Api_V1_Response {
        var request = request
        request.requestID = nextRequestID.withLockedValue { id in
            defer { id &+= 1 }
            return id
        }
        let promise = channel.eventLoop.makePromise(of: Almanac_Api_V1_Response.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(PendingRequest(request: request, promise: promise, timeout: timeout), promise: written)
        // If the channel closed before the handler saw the write, nobody else completes the promise.
        written.futureResult.whenFailure { error in
            promise.fail(ConnectionFailure.connection("cannot send on \(self.endpoint): \(error)"))
        }
        do {
            return try await promise.futureResult.get()
        } catch let failure as ConnectionFailure {
            throw failure
        } catch {
            throw .connection("\(error)")
        }
    }

    func close() async {
        try? await channel.close()
    }
}

/// "host:port" parsing.
enum Endpoint {
    static func parse(_ endpoint: String) -> (host: String, port: Int)? {
        guard let colon = endpoint.lastIndex(of: ":") else { return nil }
        var host = String(endpoint[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(endpoint[endpoint.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        return (host, port)
    }
}
