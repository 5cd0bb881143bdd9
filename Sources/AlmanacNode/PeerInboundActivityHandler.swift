import NIOCore

/// Sees a peer connection's bytes as they arrive, before frames are decoded, and tells the
/// ``TransportCore`` the connection is alive. The stalled-connection check (no inbound traffic for
/// `stalledConnectionTimeout`) must count bytes, not whole frames: over a slow or distant link, one
/// large batch (a lagging follower's catch-up) can take longer than the timeout to arrive. Counting
/// only frames, the receiver took that connection for stalled, closed it (losing the batch), and
/// the leader sent the same batch again, forever: the follower never caught up (docs/node.md).
final class PeerInboundActivityHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let core: TransportCore

    init(core: TransportCore) { self.core = core }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        core.bytesArrived(on: context.channel)
        context.fireChannelRead(data)
    }
}
