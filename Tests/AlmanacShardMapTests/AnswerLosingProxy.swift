@testable import AlmanacShardMap
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP endpoint on loopback that forwards each request body to a real etcd member (through
/// the store's own `post`) and then closes the connection without answering: a write that
/// committed while its answer was lost.
final class AnswerLosingProxy: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(forwardingTo member: EtcdEndpoint, via store: EtcdShardMapStore) async throws -> AnswerLosingProxy {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(member: member, store: store))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return AnswerLosingProxy(channel: channel)
    }

    private init(channel: any Channel) { self.channel = channel }

    func stop() async { try? await channel.close() }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        let member: EtcdEndpoint
        let store: EtcdShardMapStore
        var path = ""
        var body = ByteBuffer()

        init(member: EtcdEndpoint, store: EtcdShardMapStore) {
            self.member = member
            self.store = store
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                path = head.uri
                body.clear()
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                let (path, bytes, member, store) = (path, Array(body.readableBytesView), member, store)
                let channel = context.channel
                Task {
                    _ = try? await store.post(path, bytes, to: member, as: EtcdWire.TxnResponse.self)
                    try? await channel.close()
                }
            }
        }
    }
}
