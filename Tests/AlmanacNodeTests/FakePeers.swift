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
