import AlmanacWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A plain TCP connection for sending arbitrary bytes to a server and reading what comes back.
final class RawConnection: Sendable {
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let state: NIOLockedValueBox<(bytes: ByteBuffer, closed: Bool)>
        init(state: NIOLockedValueBox<(bytes: ByteBuffer, closed: Bool)>) { self.state = state }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            state.withLockedValue { $0.bytes.writeBuffer(&incoming) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            state.withLockedValue { $0.closed = true }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    private let state: NIOLockedValueBox<(bytes: ByteBuffer, closed: Bool)>

    private init(channel: any Channel, state: NIOLockedValueBox<(bytes: ByteBuffer, closed: Bool)>) {
        self.channel = channel
        self.state = state
    }

    static func connect(to address: SocketAddress) async throws -> RawConnection {
        let state = NIOLockedValueBox((bytes: ByteBuffer(), closed: false))
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(state: state)) }
            }
            .connect(to: address)
            .get()
        return RawConnection(channel: channel, state: state)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func send(_ request: Almanac_Api_V1_Request) async throws {
        try await send(Self.frame(request))
    }

    static func frame(_ request: Almanac_Api_V1_Request) throws -> [UInt8] {
        let body: [UInt8] = try request.serializedBytes()
        return rawFrame(type: 0x01, body: body)
    }

    static func rawFrame(type: UInt8, body: [UInt8]) -> [UInt8] {
        let length = UInt32(body.count + 1)
        return [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF), type] + body
    }

    /// Frames received so far.
    var frames: [Frame] {
        var buffer = state.withLockedValue { $0.bytes }
        var decoder = FrameDecoder(maxFrameSize: 64 << 20)
        var frames: [Frame] = []
        while let frame = try? decoder.decode(buffer: &buffer) { frames.append(frame) }
        return frames
    }

    var isClosed: Bool { state.withLockedValue { $0.closed } }

    /// Waits until `condition` holds or `seconds` pass; returns whether it held.
    func wait(seconds: Double = 5, until condition: (RawConnection) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(self)
    }

    /// Decoded responses received so far.
    var responses: [Almanac_Api_V1_Response] {
        frames.compactMap { frame in
            guard frame.type == .apiResponse else { return nil }
            return try? Almanac_Api_V1_Response(serializedBytes: Array(frame.body.readableBytesView))
        }
    }

    /// The protocol-error frame received, if any.
    var protocolError: Almanac_Api_V1_Error? {
        guard let frame = frames.first(where: { $0.type == .protocolError }) else { return nil }
        return try? Almanac_Api_V1_Error(serializedBytes: Array(frame.body.readableBytesView))
    }

    func close() async {
        try? await channel.close()
    }
}
