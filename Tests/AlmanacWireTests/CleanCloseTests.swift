import AlmanacWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// On a real socket a protocol violation must reach the client as an error frame followed by EOF, even when
/// the client keeps sending (a plain close with unread input would reset the connection instead).
@Suite struct CleanCloseTests {
    @Test func clientReadsTheErrorFrameThenEOF() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addWireCodec(
                        inbound: APIClientFrame.self, outbound: APIServerFrame.self, maxFrameSize: 64)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()

        let collected = RawCollector()
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collected) }
            }
            .connect(to: server.localAddress!).get()
        // Garbage with an unknown type, followed by more bytes the server will never read.
        var garbage = ByteBuffer(bytes: [0, 0, 0, 2, 0x99, 0x00])
        garbage.writeRepeatingByte(0x42, count: 200_000)
        try await client.writeAndFlush(garbage)
        try await client.closeFuture.get()
        try await server.close()

        var bytes = collected.bytes.withLockedValue { $0 }
        var decoder = FrameDecoder(maxFrameSize: 1 << 20)
        let frame = try #require(try decoder.decode(buffer: &bytes))
        guard case .protocolError(let error) = try? APIServerFrame(frame: frame) else {
            Issue.record("expected protocol error frame")
            return
        }
        #expect(error.code == Almanac_Api_V1_ErrorCode.protocolError)
        let failure = collected.failure.withLockedValue { $0 }
        #expect(failure == nil, "expected an orderly EOF, got \(String(describing: failure))")
    }
}

private final class RawCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let bytes = NIOLockedValueBox(ByteBuffer())
    /// Set when the connection failed with an error (e.g. ECONNRESET) instead of an orderly EOF.
    let failure = NIOLockedValueBox<(any Error)?>(nil)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        _ = bytes.withLockedValue { $0.writeBuffer(&chunk) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failure.withLockedValue { $0 = error }
        context.close(promise: nil)
    }
}
