import AlmanacWire
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Serves one client connection: decoded requests go to the ``RequestExecutor``'s completion API
/// (no task per request; a backend on this same event loop answers without any thread hop) and
/// are answered as they complete, in any order (request ids pair them up).
///
/// At most `maxOutstanding` requests are in progress per connection: at the limit the handler stops
/// reading from the socket (TCP back-pressure) and a request that was already decoded beyond it gets
/// UNAVAILABLE without being executed. Each request has a deadline; when it passes first, the
/// client gets TIMEOUT (the outcome of a write is then unknown: retry with the same sequence). One
/// timer per connection is armed for the earliest deadline.
final class APIConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = APIClientFrame
    typealias OutboundIn = APIServerFrame
    typealias OutboundOut = APIServerFrame

    private let executor: RequestExecutor
    private let configuration: APIServerConfiguration
    private let logger: Logger
    private let statistics: NIOLockedValueBox<APIServerStatistics>
    /// Outstanding request ids and their deadlines.
    private var outstanding: [UInt64: NIODeadline] = [:]
    /// One timer per connection, armed for the earliest deadline (not one timer per request).
    private var deadlineTimer: (deadline: NIODeadline, task: Scheduled<Void>)?
    private var readPending = false
    private var open = true
    private var flushScheduled = false

    init(
        executor: RequestExecutor, configuration: APIServerConfiguration, logger: Logger,
        statistics: NIOLockedValueBox<APIServerStatistics>
    ) {
        self.statistics = statistics
        self.executor = executor
        self.configuration = configuration
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .protocolError(let error):
            logger.info("client reported a protocol error; closing", metadata: ["error": "\(error.code): \(error.message)"])
            context.close(promise: nil)
        case .request(let request):
            guard open else { return }
            accept(request, context: context)
        }
    }

    private func accept(_ request: Almanac_Api_V1_Request, context: ChannelHandlerContext) {
        let id = request.requestID
        let translator = configuration.translator
        guard outstanding[id] == nil else {
            send(translator.errorResponse(requestID: id, APIError(.einval, "request id \(id) is already outstanding on this connection")), context: context)
            return
        }
        guard outstanding.count < configuration.maxOutstandingPerConnection else {
            statistics.withLockedValue { $0.refusedOverLimit += 1 }
            send(translator.errorResponse(requestID: id, APIError(
                .unavailable, "too many outstanding requests on this connection (limit \(configuration.maxOutstandingPerConnection)); nothing was applied")),
                context: context)
            return
        }
        statistics.withLockedValue { $0.requests += 1 }
        var timeout = configuration.defaultTimeout
        if request.timeoutMs != 0 { timeout = min(.milliseconds(Int64(request.timeoutMs)), configuration.maxTimeout) }
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        let deadline = NIODeadline.now() + timeout
        outstanding[id] = deadline
        armDeadlineTimer(for: deadline, context: context)
        executor.execute(request) { response in
            if loop.inEventLoop {
                let (handler, context) = bound.value
                handler.finish(response, context: context)
            } else {
                loop.execute {
                    let (handler, context) = bound.value
                    handler.finish(response, context: context)
                }
            }
        }
    }

    private func finish(_ response: Almanac_Api_V1_Response, context: ChannelHandlerContext) {
        guard outstanding.removeValue(forKey: response.requestID) != nil else { return }  // already answered
        send(response, context: context)
        if readPending, outstanding.count < configuration.maxOutstandingPerConnection {
            readPending = false
            context.read()
        }
    }

    private func armDeadlineTimer(for deadline: NIODeadline, context: ChannelHandlerContext) {
        if let armed = deadlineTimer {
            guard deadline < armed.deadline else { return }
            armed.task.cancel()
        }
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.deadlineTimer = nil
            handler.expire(now: .now(), context: context)
        }
        deadlineTimer = (deadline, task)
    }

    /// Answers TIMEOUT to every request past its deadline, then re-arms for the earliest left.
    private func expire(now: NIODeadline, context: ChannelHandlerContext) {
        guard open else { return }
        var earliest: NIODeadline?
        for (id, deadline) in outstanding {
            if deadline <= now {
                let translator = configuration.translator
                finish(translator.errorResponse(requestID: id, APIError(
                    .timeout, "no result within the request's deadline; the outcome is unknown, retry with the same session and sequence")),
                    context: context)
            } else if earliest.map({ deadline < $0 }) ?? true {
                earliest = deadline
            }
        }
        if let earliest { armDeadlineTimer(for: earliest, context: context) }
    }

    /// Writes a response; responses completing in the same event-loop tick share one flush.
    private func send(_ response: Almanac_Api_V1_Response, context: ChannelHandlerContext) {
        guard open else { return }
        context.write(wrapOutboundOut(.response(response)), promise: nil)
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            if self.open { context.flush() }
        }
    }

    func read(context: ChannelHandlerContext) {
        if outstanding.count >= configuration.maxOutstandingPerConnection {
            readPending = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let violation = event as? WireProtocolViolation {
            logger.info("protocol violation; closing the connection", metadata: ["error": "\(violation.error)"])
            statistics.withLockedValue { $0.protocolViolations += 1 }
            // The codec sends the protocol-error frame and closes; no more responses go out.
            open = false
            cancelDeadlines()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        open = false
        cancelDeadlines()
        context.fireChannelInactive()
    }

    private func cancelDeadlines() {
        deadlineTimer?.task.cancel()
        deadlineTimer = nil
        outstanding.removeAll()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error; closing", metadata: ["error": "\(error)"])
        open = false
        context.close(promise: nil)
    }
}
