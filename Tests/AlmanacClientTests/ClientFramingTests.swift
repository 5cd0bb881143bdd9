import AlmanacClient
import AlmanacKeyspace
import AlmanacWire
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The client's own framing against a scripted raw-TCP server: frames split across reads, a
/// server that breaks the protocol.
@Suite struct ClientFramingTests {
    @Test func reassemblesSplitFramesAndAnswersAnInvalidFrameWithAProtocolError() async throws {
        let server = try await ScriptedServer.start()
        var configuration = AlmanacClientConfiguration(
            endpoints: [server.endpoint], attemptTimeout: .seconds(2), operationTimeout: .seconds(4))
        // The scripted server answers two requests only: give the client its map up front.
        configuration.initialShardMap = try ShardMap.initial(keying: SegmentKeying(), shardCount: 1) { _ in
            [ReplicaLocation(node: 1, zone: "z1")]
        }
        let client = AlmanacClient(configuration: configuration)
        // 1st request: the answer arrives one byte per TCP write (and read).
        let root = try await client.getattr(rootInode)
        #expect(root.inode == rootInode && root.type == .directory)
        // 2nd request: the server answers with a frame of an unknown type.
        let error = await clientError { try await client.getattr(rootInode) }
        #expect(error?.kind == .protocolViolation)
        // The client told the server why before closing.
        var received: [FrameType] = []
        for _ in 0..<200 where !received.contains(.protocolError) {
            try await Task.sleep(for: .milliseconds(10))
            received = server.received.withLock { $0 }
        }
        #expect(received == [.apiRequest, .apiRequest, .protocolError])
        await client.shutdown()
        try await server.channel.close()
    }
}

/// A TCP server that answers the first request correctly (byte by byte) and the second with an
/// invalid frame, and records the type of every frame it receives.
private struct ScriptedServer {
    let channel: any Channel
    let received: SharedFrameLog

    var endpoint: String { "127.0.0.1:\(channel.localAddress?.port ?? 0)" }

    static func start() async throws -> ScriptedServer {
        let log = SharedFrameLog()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(ScriptedHandler(log: log)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedServer(channel: channel, received: log)
    }
}

private final class SharedFrameLog: Sendable {
    private let frames = Mutex<[FrameType]>([])
    func append(_ type: FrameType) { frames.withLock { $0.append(type) } }
    func withLock<T>(_ body: ([FrameType]) -> T) -> T { frames.withLock { body($0) } }
}

private final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let log: SharedFrameLog
    private var buffer = ByteBuffer()
    private var decoder = FrameDecoder(maxFrameSize: 1 << 20)
    private var requests = 0

    init(log: SharedFrameLog) { self.log = log }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        while let frame = try? decoder.decode(buffer: &buffer) {
            log.append(frame.type)
            guard case .request(let request)? = try? APIClientFrame(frame: frame) else { continue }
            requests += 1
            if requests == 1 {
                var response = Almanac_Api_V1_Response()
                response.requestID = request.requestID
                var entry = Almanac_Api_V1_EntryResponse()
                entry.attributes.inode = rootInode
                entry.attributes.type = .directory
                response.entry = entry
                guard let encoded = try? APIServerFrame.response(response).makeFrame() else { return }
                var wire = ByteBuffer()
                wire.writeInteger(UInt32(encoded.length), endianness: .big)
                wire.writeInteger(encoded.type.rawValue)
                wire.writeImmutableBuffer(encoded.body)
                while let byte = wire.readSlice(length: 1) { context.writeAndFlush(wrapOutboundOut(byte), promise: nil) }
            } else {
                var invalid = ByteBuffer()
                invalid.writeInteger(UInt32(1), endianness: .big)
                invalid.writeInteger(UInt8(0x55))
                context.writeAndFlush(wrapOutboundOut(invalid), promise: nil)
            }
        }
    }
}
