import AlmanacWire
import NIOCore
import NIOPosix
import NIOSSL

/// Why a single attempt on one connection failed (the client decides whether to retry elsewhere).
enum ConnectionFailure: Error, Sendable {
    /// Could not connect, or the connection closed before the answer came.
    case connection(String)
    /// No answer within the attempt's deadline.
    case timedOut(String)
    /// A protocol-error frame came from the server.
    case protocolViolation(String)
    /// The request cannot be sent at all (larger than the frame limit, or not encodable); it was
    /// not written, so no retry can help.
    case unsendable(Almanac_Api_V1_ErrorCode, String)
}

/// The outcome of one attempt: the server's response or why there is none.
typealias AttemptResult = Result<Almanac_Api_V1_Response, ConnectionFailure>

/// Who is told an attempt's outcome: a suspended caller (the common case, no allocation) or a
/// callback (hedged attempts, whose outcomes are collected by an ``AttemptMailbox``).
enum AttemptCompletion: Sendable {
    case continuation(UnsafeContinuation<AttemptResult, Never>)
    case callback(@Sendable (AttemptResult) -> Void)

    func resume(returning result: AttemptResult) {
        switch self {
        case .continuation(let continuation): continuation.resume(returning: result)
        case .callback(let callback): callback(result)
        }
    }
}

/// Client side of one connection: frames and writes requests, parses the server's frames, matches
/// responses to requests by request id, times them out, and fails everything outstanding when the
/// connection goes away.
///
/// Everything runs on the connection's event loop, in this one handler (no codec handlers, no
/// type-erased hand-offs between them). Per request there is one buffer (header and body encoded
/// in place), no promise and no timer: writes issued in the same event-loop tick share one flush
/// (one syscall), and one timer per connection, armed for the earliest deadline, times requests
/// out. Frames are validated by the shared ``FrameDecoder`` and ``APIServerFrame``; a violation is
/// answered like ``WireCodecHandler`` does: a protocol-error frame, a half-close, a full close
/// when the server closes or after `drainTimeout`.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Waiter {
        var continuation: AttemptCompletion
        var timeout: TimeAmount
    }

    private let maxFrameSize: Int
    /// Put on every request when the cluster checks tokens (docs/security.md).
    private let authToken: String?
    private let clientZone: String?
    private let drainTimeout: TimeAmount
    private var decoder: FrameDecoder
    /// Received bytes of an incomplete frame.
    private var inbound: ByteBuffer?
    private var pending = PendingRequests<Waiter>(capacity: 64)
    private var nextRequestID: UInt64 = 1
    private var context: ChannelHandlerContext?
    private var closed = false
    private var violated = false
    private var receivedAny = false
    private var flushScheduled = false
    private var timer: Scheduled<Void>?
    private var drainDeadline: Scheduled<Void>?

    /// `maxFrameSize` bounds the frames both ways (the length prefix: type byte plus body).
    init(maxFrameSize: Int, authToken: String? = nil, clientZone: String? = nil, drainTimeout: TimeAmount = .seconds(2)) {
        self.authToken = authToken
        self.clientZone = clientZone
        self.maxFrameSize = maxFrameSize
        self.drainTimeout = drainTimeout
        self.decoder = FrameDecoder(maxFrameSize: max(1, maxFrameSize))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(.connection("connection closed"))
        drainDeadline?.cancel()
        self.context = nil
    }

    /// Writes `request` (assigning its request id) and resumes `continuation` exactly once: with the
    /// response, on timeout after `timeout`, or when the connection fails. Must run on the event loop.
    func send(_ request: Almanac_Api_V1_Request, timeout: TimeAmount, continuation: AttemptCompletion) {
        guard !closed, let context else {
            continuation.resume(returning: .failure(.connection("connection is closed")))
            return
        }
        var request = request
        let id = nextRequestID
        nextRequestID &+= 1
        request.requestID = id
        if let authToken { request.authToken = authToken }
        if let clientZone { request.clientZone = clientZone }
        let frame: ByteBuffer
        do {
            frame = try ClientFrameEncoder.encode(request, type: .apiRequest, maxFrameSize: maxFrameSize)
        } catch {
            switch error {
            case .tooLarge(let message): continuation.resume(returning: .failure(.unsendable(.tooLarge, message)))
            case .unencodable(let message): continuation.resume(returning: .failure(.unsendable(.einval, message)))
            }
            return
        }
        if let rearm = pending.insert(id, waiter: Waiter(continuation: continuation, timeout: timeout), deadline: .now() + timeout) {
            armTimer(for: rearm, context: context)
        }
        // A failed write closes the channel, and channelInactive fails every pending request.
        context.write(wrapOutboundOut(frame), promise: nil)
        if !flushScheduled {
            flushScheduled = true
            // Runs after the jobs already queued on this loop, so their writes share this flush.
            context.eventLoop.assumeIsolated().execute { [self] in
                flushScheduled = false
                self.context?.flush()
            }
        }
    }

    private func armTimer(for deadline: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            expireOverdue()
        }
    }

    /// Fails the requests past their deadline and re-arms the timer for the earliest remaining one.
    private func expireOverdue() {
        timer = nil
        let (overdue, rearm) = pending.expire(now: .now())
        if let rearm, let context, !closed { armTimer(for: rearm, context: context) }
        for waiter in overdue {
            waiter.continuation.resume(returning: .failure(.timedOut("no response within \(waiter.timeout.nanoseconds / 1_000_000) ms")))
        }
    }

    private func failAll(_ failure: ConnectionFailure) {
        closed = true
        timer?.cancel()
        timer = nil
        for waiter in pending.removeAll() { waiter.continuation.resume(returning: .failure(failure)) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !violated else { return }  // draining after a violation
        var buffer = unwrapInboundIn(data)
        if !receivedAny {
            receivedAny = true
            // A TLS record (alert 0x15 or handshake 0x16, version 3.x) where a frame length belongs:
            // the server speaks TLS and this connection does not (docs/security.md).
            if let bytes = buffer.getBytes(at: buffer.readerIndex, length: min(2, buffer.readableBytes)),
               bytes.count == 2, bytes[0] == 0x15 || bytes[0] == 0x16, bytes[1] == 0x03 {
                violated = true
                failAll(.protocolViolation("the server speaks TLS: connect with TLS, trusting the cluster CA "
                    + "(--ca or ALMANAC_CA; AlmanacClientConfiguration.tls)"))
                context.close(promise: nil)
                return
            }
        }
        if var earlier = inbound {
            inbound = nil
            earlier.writeBuffer(&buffer)
            buffer = earlier
        }
        do {
            while !closed, let frame = try decoder.decode(buffer: &buffer) {
                switch try APIServerFrame(frame: frame) {
                case .response(let response):
                    // Absent if it timed out earlier.
                    pending.remove(response.requestID)?.continuation.resume(returning: .success(response))
                case .protocolError(let error):
                    failAll(.protocolViolation("server reported a protocol error: \(error.message)"))
                    context.close(promise: nil)
                    return
                }
            }
        } catch let error as WireProtocolError {
            reportViolation(error, context: context)
            return
        } catch {
            reportViolation(WireProtocolError(.malformedBody, "\(error)"), context: context)
            return
        }
        if buffer.readableBytes > 0 {
            // Keep only the incomplete frame (not the bytes already parsed in front of it).
            buffer.discardReadBytes()
            inbound = buffer
        }
    }

    /// The server sent an invalid frame: fail everything, tell the server why, half-close so it
    /// reads that before EOF, and close fully when it closes or after `drainTimeout`.
    private func reportViolation(_ error: WireProtocolError, context: ChannelHandlerContext) {
        violated = true
        inbound = nil
        failAll(.protocolViolation("server sent an invalid frame: \(error)"))
        guard let frame = try? ClientFrameEncoder.encode(Almanac_Api_V1_Error(error), type: .protocolError, maxFrameSize: Int(UInt32.max)) else {
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: halfClosed)
            halfClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        }
        drainDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: drainTimeout) {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connection("connection closed by the server"))
        drainDeadline?.cancel()
        drainDeadline = nil
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
    private let handler: NIOLoopBound<ClientConnectionHandler>

    private init(endpoint: String, channel: any Channel, handler: NIOLoopBound<ClientConnectionHandler>) {
        self.endpoint = endpoint
        self.channel = channel
        self.handler = handler
    }

    var isActive: Bool { channel.isActive }

    /// Connects on `eventLoop` (the loop the connection's users run on).
    static func connect(
        to endpoint: String, eventLoop: any EventLoop, timeout: TimeAmount, maxFrameSize: Int, tls: NIOSSLContext? = nil,
        authToken: String? = nil, clientZone: String? = nil
    ) async throws(ConnectionFailure) -> ClientConnection {
        guard let (host, port) = Endpoint.parse(endpoint) else {
            throw .connection("bad endpoint \"\(endpoint)\" (expected host:port)")
        }
        // TLS checks the certificate against the name dialed, or against the address for an IP
        // endpoint (SNI carries names only).
        let serverHostname = (try? SocketAddress(ipAddress: host, port: port)) == nil ? host : nil
        do {
            let (channel, handler) = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = ClientConnectionHandler(maxFrameSize: maxFrameSize, authToken: authToken, clientZone: clientZone)
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls, serverHostname: serverHostname))
                        }
                        try channel.pipeline.syncOperations.addHandler(handler)
                        return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                    }
                }
            return ClientConnection(endpoint: endpoint, channel: channel, handler: handler)
        } catch {
            throw .connection("cannot connect to \(endpoint): \(error)")
        }
    }

    /// Sends `request` (its request id is assigned here) and resumes `continuation` once with the
    /// outcome; see ``ClientConnectionHandler/send(_:timeout:continuation:)``. On the connection's
    /// event loop the request is written at once; from elsewhere it is handed to the loop.
    func send(_ request: Almanac_Api_V1_Request, timeout: TimeAmount, continuation: UnsafeContinuation<AttemptResult, Never>) {
        send(request, timeout: timeout, completion: .continuation(continuation))
    }

    /// Like ``send(_:timeout:continuation:)``, reporting the outcome to `completion`.
    func send(_ request: Almanac_Api_V1_Request, timeout: TimeAmount, completion continuation: AttemptCompletion) {
        if handler.eventLoop.inEventLoop {
            handler.value.send(request, timeout: timeout, continuation: continuation)
        } else {
            let handler = self.handler
            handler.eventLoop.execute {
                handler.value.send(request, timeout: timeout, continuation: continuation)
            }
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
