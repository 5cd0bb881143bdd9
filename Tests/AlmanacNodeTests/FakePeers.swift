import AlmanacRaft
import AlmanacWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A peer that completes the handshake and then never acknowledges or answers anything.
final class SlowPeer: Sendable {
    private let channel: any Channel
    private let counter: NIOLockedValueBox<Int>
    private let hellos: NIOLockedValueBox<Int>
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel, counter: NIOLockedValueBox<Int>, hellos: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.counter = counter
        self.hellos = hellos
    }

    func batchesReceived() -> Int { counter.withLockedValue { $0 } }
    /// Connections on which the handshake completed.
    func handshakes() -> Int { hellos.withLockedValue { $0 } }

    static func start(nodeID: NodeID) async throws -> SlowPeer {
        let counter = NIOLockedValueBox(0)
        let hellos = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addWireCodec(inbound: PeerFrame.self, outbound: PeerFrame.self,
                                                                     maxFrameSize: WireLimits.defaultPeerMaxFrameSize)
                    try channel.pipeline.syncOperations.addHandler(Handler(nodeID: nodeID, counter: counter, hellos: hellos))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return SlowPeer(channel: channel, counter: counter, hellos: hellos)
    }

    func stop() async throws { try await channel.close() }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = PeerFrame
        typealias OutboundOut = PeerFrame
        let nodeID: NodeID
        let counter: NIOLockedValueBox<Int>
        let hellos: NIOLockedValueBox<Int>

        init(nodeID: NodeID, counter: NIOLockedValueBox<Int>, hellos: NIOLockedValueBox<Int>) {
            self.nodeID = nodeID
            self.counter = counter
            self.hellos = hellos
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .hello(let hello):
                var reply = hello
                reply.nodeID = nodeID
                context.writeAndFlush(wrapOutboundOut(.hello(reply)), promise: nil)
                hellos.withLockedValue { $0 += 1 }
            case .batch:
                counter.withLockedValue { $0 += 1 }
            default:
                break
            }
        }
    }
}

/// Connects to a transport, sends raw peer frames, and collects what comes back until the server closes.
enum RawPeerClient {
    struct Reply {
        var frames: [PeerFrame]
        var closed: Bool
    }

    static func exchange(port: Int, frames: [PeerFrame]) async throws -> Reply {
        let collected = NIOLockedValueBox<[PeerFrame]>([])
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addWireCodec(inbound: PeerFrame.self, outbound: PeerFrame.self,
                                                                     maxFrameSize: WireLimits.defaultPeerMaxFrameSize)
                    try channel.pipeline.syncOperations.addHandler(Collector(frames: collected))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        for frame in frames { try await channel.writeAndFlush(frame) }
        // The server closes the connection after its protocol error; bound the wait in case it does not.
        let closed = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await channel.closeFuture.get()) != nil }
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !closed { try? await channel.close() }
        return Reply(frames: collected.withLockedValue { $0 }, closed: closed)
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = PeerFrame
        let frames: NIOLockedValueBox<[PeerFrame]>
        init(frames: NIOLockedValueBox<[PeerFrame]>) { self.frames = frames }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            frames.withLockedValue { $0.append(frame) }
        }
    }
}

/// A peer that completes the handshake, never answers a ping, and sends one batch frame a few
/// bytes at a time, so that the whole frame takes longer to arrive than the dialer's
/// stalled-connection timeout (a large catch-up over a slow, distant link).
final class TricklingPeer: Sendable {
    private let channel: any Channel
    private let hellos: NIOLockedValueBox<Int>
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel, hellos: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.hellos = hellos
    }

    /// Connections on which the handshake completed.
    func handshakes() -> Int { hellos.withLockedValue { $0 } }

    /// - Parameters: `batch`, the frame to trickle; `chunkBytes` every `every`.
    static func start(nodeID: NodeID, batch: PeerFrame, chunkBytes: Int, every: TimeAmount) async throws -> TricklingPeer {
        let hellos = NIOLockedValueBox(0)
        var encoded = ByteBuffer()
        FrameEncoder().encode(data: try batch.makeFrame(), out: &encoded)
        let bytes = encoded
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: WireLimits.defaultPeerMaxFrameSize)))
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(nodeID: nodeID, hellos: hellos, batch: bytes, chunkBytes: chunkBytes, every: every))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TricklingPeer(channel: channel, hellos: hellos)
    }

    func stop() async throws { try await channel.close() }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = Frame
        typealias OutboundOut = ByteBuffer
        let nodeID: NodeID
        let hellos: NIOLockedValueBox<Int>
        let batch: ByteBuffer
        let chunkBytes: Int
        let every: TimeAmount

        init(nodeID: NodeID, hellos: NIOLockedValueBox<Int>, batch: ByteBuffer, chunkBytes: Int, every: TimeAmount) {
            self.nodeID = nodeID
            self.hellos = hellos
            self.batch = batch
            self.chunkBytes = chunkBytes
            self.every = every
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .hello(var reply)? = try? PeerFrame(frame: unwrapInboundIn(data)) else { return }
            reply.nodeID = nodeID
            var out = ByteBuffer()
            guard let frame = try? PeerFrame.hello(reply).makeFrame() else { return }
            FrameEncoder().encode(data: frame, out: &out)
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            hellos.withLockedValue { $0 += 1 }
            trickle(from: 0, context: context)
        }

        private func trickle(from offset: Int, context: ChannelHandlerContext) {
            guard offset < batch.readableBytes, context.channel.isActive else { return }
            let length = min(chunkBytes, batch.readableBytes - offset)
            if let chunk = batch.getSlice(at: batch.readerIndex + offset, length: length) {
                context.writeAndFlush(wrapOutboundOut(chunk), promise: nil)
            }
            context.eventLoop.assumeIsolated().scheduleTask(in: every) { self.trickle(from: offset + length, context: context) }
        }
    }
}
