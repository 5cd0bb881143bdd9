import NIOCore

/// Fired inbound (as a user event) when the remote side violated the protocol, after the protocol-error
/// frame was queued. The connection is being closed; the application only needs to log or count it.
public struct WireProtocolViolation: Sendable, Hashable {
    public var error: WireProtocolError

    public init(error: WireProtocolError) {
        self.error = error
    }
}

/// Turns ``Frame``s into typed messages and back, and enforces the protocol.
///
/// On any ``WireProtocolError`` (from the ``FrameDecoder`` before it or from parsing a body) it sends one
/// `protocolError` frame (code `TOO_LARGE` or `PROTOCOL_ERROR`), half-closes the connection once that frame
/// is written, ignores everything the remote side sends afterwards, and closes fully when the remote side
/// closes or after `drainTimeout`. Outbound messages larger than `maxFrameSize` fail their write promise
/// with ``WireProtocolError/Kind/frameTooLarge`` and are not sent.
public final class WireCodecHandler<Inbound: FrameDecodable, Outbound: FrameEncodable>: ChannelDuplexHandler {
    public typealias InboundIn = Frame
    public typealias InboundOut = Inbound
    public typealias OutboundIn = Outbound
    public typealias OutboundOut = Frame

    private let maxFrameSize: Int
    private let drainTimeout: TimeAmount
    private var violated = false
    private var drainDeadline: Scheduled<Void>?

    public init(maxFrameSize: Int, drainTimeout: TimeAmount = .seconds(2)) {
        self.maxFrameSize = maxFrameSize
        self.drainTimeout = drainTimeout
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !violated else { return }
        do {
            let message = try Inbound(frame: unwrapInboundIn(data))
            context.fireChannelRead(wrapInboundOut(message))
        } catch {
            reportViolation(error, context: context)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let protocolError = error as? WireProtocolError {
            if !violated { reportViolation(protocolError, context: context) }
            return
        }
        // After a violation the decoder reports every further byte as an error: ignore those.
        if violated, error is ByteToMessageDecoderError { return }
        context.fireErrorCaught(error)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        drainDeadline?.cancel()
        drainDeadline = nil
        context.fireChannelInactive()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame: Frame
        do {
            frame = try unwrapOutboundIn(data).makeFrame()
        } catch {
            promise?.fail(error)
            return
        }
        guard frame.length <= maxFrameSize else {
            promise?.fail(WireProtocolError(
                .frameTooLarge, "outbound \(frame.type) frame of \(frame.length) bytes exceeds the limit of \(maxFrameSize) bytes"))
            return
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    private func reportViolation(_ error: WireProtocolError, context: ChannelHandlerContext) {
        violated = true
        context.fireUserInboundEventTriggered(WireProtocolViolation(error: error))
        guard let frame = try? Almanac_Api_V1_Error(error).frame(.protocolError) else {
            context.close(promise: nil)
            return
        }
        let drainTimeout = self.drainTimeout
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            // Half-close so the peer reads the error frame before EOF; a full close with unread input
            // could reset the connection and lose it.
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: halfClosed)
            halfClosed.futureResult.assumeIsolated().whenFailure { _ in
                context.close(promise: nil)
            }
        }
        drainDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: drainTimeout) {
            context.close(promise: nil)
        }
    }
}

/// The handler pair for peer connections.
public typealias PeerCodecHandler = WireCodecHandler<PeerFrame, PeerFrame>
/// The handler for the server side of client connections.
public typealias APIServerCodecHandler = WireCodecHandler<APIClientFrame, APIServerFrame>
/// The handler for the client side of client connections.
public typealias APIClientCodecHandler = WireCodecHandler<APIServerFrame, APIClientFrame>

extension ChannelPipeline.SynchronousOperations {
    /// Adds the framing handlers (decoder with `maxFrameSize`, encoder) and the typed codec. Add the
    /// application handler after this; it receives `Inbound` values and writes `Outbound` values.
    public func addWireCodec<Inbound: FrameDecodable, Outbound: FrameEncodable>(
        inbound: Inbound.Type, outbound: Outbound.Type, maxFrameSize: Int, drainTimeout: TimeAmount = .seconds(2)
    ) throws {
        try addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize)))
        try addHandler(MessageToByteHandler(FrameEncoder()))
        try addHandler(WireCodecHandler<Inbound, Outbound>(maxFrameSize: maxFrameSize, drainTimeout: drainTimeout))
    }
}
