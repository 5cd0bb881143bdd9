import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP answer of the operations endpoint.
public struct OperationsResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: [UInt8]
    /// A server-sent event stream instead of a body (`text/event-stream`): each element is written
    /// as it comes, until the stream ends or the client goes away.
    public var events: (@Sendable () -> AsyncStream<[UInt8]>)? = nil

    public init(status: HTTPResponseStatus, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public init(status: HTTPResponseStatus, text: String) {
        self.init(status: status, body: Array(text.utf8))
    }
}

/// Answers GET requests of the operations endpoint by path (runs off the event loop, may suspend).
public protocol OperationsResponder: Sendable {
    func respond(toPath path: String) async -> OperationsResponse
}

/// A small HTTP/1.1 server (NIOHTTP1) for `/metrics`, `/healthz` and `/readyz`: GET and HEAD only,
/// keep-alive, one request at a time per connection. It runs on its own event loop so that a scrape
/// never takes time from the host loop; answers are computed in a task, never on the loop.
public final class OperationsHTTPServer: Sendable {
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    /// The bound address (the real port when 0 was asked).
    public let address: ListenAddress

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, address: ListenAddress) {
        self.channel = channel
        self.group = group
        self.address = address
    }

    /// `http://host:port` of the server.
    public var baseURL: String { "http://\(address)" }

    public static func start(address: ListenAddress, responder: any OperationsResponder,
                             logger: Logger = Logger(label: "almanac.operations")) async throws -> OperationsHTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(OperationsHTTPHandler(responder: responder))
                    }
                }
                .bind(host: address.host, port: address.port).get()
            let bound = ListenAddress(host: address.host, port: channel.localAddress?.port ?? address.port)
            logger.info("operations endpoint listening", metadata: ["address": "\(bound)"])
            return OperationsHTTPServer(channel: channel, group: group, address: bound)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops listening, closes the connections and the event loop.
    public func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// One connection: waits for a complete request, asks the responder in a task, writes the answer.
final class OperationsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: any OperationsResponder
    private var head: HTTPRequestHead?

    init(responder: any OperationsResponder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break  // bodies are ignored (GET/HEAD only)
        case .end:
            guard let head else { return }
            self.head = nil
            serve(head, context: context)
        }
    }

    private func serve(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = head.isKeepAlive
        let isHead = head.method == .HEAD
        guard head.method == .GET || isHead else {
            return write(OperationsResponse(status: .methodNotAllowed, text: "only GET and HEAD\n"),
                         version: head.version, keepAlive: keepAlive, omitBody: false, context: context)
        }
        let path = String(head.uri.prefix { $0 != "?" })
        let responder = self.responder
        let promise = context.eventLoop.makePromise(of: OperationsResponse.self)
        promise.completeWithTask { await responder.respond(toPath: path) }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { response in
            let (handler, context) = bound.value
            guard context.channel.isActive else { return }  // the client went away meanwhile
            handler.write(response, version: head.version, keepAlive: keepAlive, omitBody: isHead, context: context)
        }
    }

    private func write(_ response: OperationsResponse, version: HTTPVersion, keepAlive: Bool, omitBody: Bool,
                       context: ChannelHandlerContext) {
        if let events = response.events, !omitBody { return stream(events, version: version, context: context) }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.count)")
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))),
                      promise: nil)
        if !omitBody {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))),
                          promise: nil)
        }
        let done = context.writeAndFlushPromise()
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

extension OperationsHTTPHandler {
    /// Writes the head, then each event as a chunk as it comes (chunked encoding), from a task that
    /// ends when the stream does or the connection closes; the connection closes after the stream.
    private func stream(_ events: @escaping @Sendable () -> AsyncStream<[UInt8]>, version: HTTPVersion, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream; charset=utf-8")
        headers.add(name: "Cache-Control", value: "no-cache")
        headers.add(name: "Connection", value: "close")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))), promise: nil)
        let channel = context.channel
        let task = Task {
            for await event in events() {
                guard channel.isActive else { break }
                let buffer = channel.allocator.buffer(bytes: event)
                do {
                    try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)))
                } catch {
                    break
                }
            }
            try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
            try? await channel.close()
        }
        channel.closeFuture.whenComplete { _ in task.cancel() }
    }
}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise(of: Void.self) }
}
