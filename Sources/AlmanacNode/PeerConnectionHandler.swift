import AlmanacRaft
import AlmanacWire
import NIOCore

/// The application end of one peer connection's pipeline: handshake, delivery, acks, pings.
/// Runs on the transport's event loop and calls straight into its ``TransportCore``.
final class PeerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = PeerFrame
    typealias OutboundOut = PeerFrame

    private let core: TransportCore
    /// Known from the start when this node dialed; learned from the hello when it accepted.
    private var peer: NodeID?
    private let dialed: Bool
    private var pendingAck: UInt64 = 0
    private var pendingAckBatches = 0
    private var needsFlush = false
    private var rejected = false
    private var closeDeadline: Scheduled<Void>?

    init(core: TransportCore, dialedPeer: NodeID?) {
        self.core = core
        self.peer = dialedPeer
        self.dialed = dialedPeer != nil
    }

    func channelActive(context: ChannelHandlerContext) {
        core.register(context.channel)
        if !dialed {
            // An accepted connection must introduce itself promptly.
            let timeout = core.configuration.helloTimeout
            closeDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                if self.peer == nil { self.reject("no hello within \(timeout)", context: context) }
            }
        }
        if let peer, dialed {
            // Batches wait for the acceptor's hello: if it refuses us, nothing was in flight.
            context.writeAndFlush(wrapOutboundOut(.hello(core.hello())), promise: nil)
            core.attach(peer: peer, channel: context.channel, ready: false)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !rejected else { return }
        let frame = unwrapInboundIn(data)
        if case .hello(let hello) = frame {
            handleHello(hello, context: context)
            return
        }
        guard let peer else {
            reject("expected a hello before \(frame.kindName)", context: context)
            return
        }
        core.heard(from: peer, on: context.channel)
        switch frame {
        case .batch(let sequence, let envelopes):
            core.deliver(from: peer, envelopes: envelopes)
            pendingAck = max(pendingAck, sequence)
            pendingAckBatches += 1
        case .ack(let sequence):
            core.acknowledged(peer: peer, sequence: sequence, channel: context.channel)
        case .ping(let nonce, let sentAt):
            context.write(wrapOutboundOut(.pong(nonce: nonce, sentAtNanos: sentAt)), promise: nil)
            needsFlush = true
        case .pong(_, let sentAt):
            core.roundTrip(peer: peer, sentAtNanos: sentAt)
        case .protocolError(let error):
            core.logProtocolError(from: peer, error: error)
            context.close(promise: nil)
        case .hello:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pendingAck > 0 {
            let deferred = peer.map {
                core.receivedBatches(peer: $0, upTo: pendingAck, count: pendingAckBatches, channel: context.channel)
            } ?? false
            if !deferred {
                context.write(wrapOutboundOut(.ack(sequence: pendingAck)), promise: nil)
                needsFlush = true
            }
            pendingAck = 0
            pendingAckBatches = 0
        }
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let peer {
            core.writable(peer: peer, channel: context.channel)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeDeadline?.cancel()
        closeDeadline = nil
        core.channelClosed(context.channel, peer: peer)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let violation = event as? WireProtocolViolation {
            core.logViolation(violation, peer: peer, remote: context.remoteAddress)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.logConnectionError(error, peer: peer)
        context.close(promise: nil)
    }

    private func handleHello(_ hello: Almanac_Raft_V1_PeerHello, context: ChannelHandlerContext) {
        if dialed {
            // The acceptor's answer: it must be the node we meant to reach.
            guard hello.nodeID == peer, hello.clusterID == core.configuration.clusterID else {
                reject("dialed node \(peer ?? 0) but node \(hello.nodeID) of cluster '\(hello.clusterID)' answered",
                       context: context)
                return
            }
            core.heard(from: hello.nodeID, on: context.channel)
            core.handshakeConfirmed(peer: hello.nodeID, channel: context.channel)
            return
        }
        guard peer == nil else {
            reject("second hello on one connection", context: context)
            return
        }
        if let problem = core.validateIncomingHello(hello) {
            reject(problem, context: context)
            return
        }
        peer = hello.nodeID
        closeDeadline?.cancel()
        closeDeadline = nil
        context.writeAndFlush(wrapOutboundOut(.hello(core.hello())), promise: nil)
        core.heard(from: hello.nodeID, on: context.channel)
        core.attach(peer: hello.nodeID, channel: context.channel, ready: false)
        core.handshakeConfirmed(peer: hello.nodeID, channel: context.channel)
    }

    /// Sends a protocol error and closes, like the codec does for malformed input.
    private func reject(_ message: String, context: ChannelHandlerContext) {
        guard !rejected else { return }
        rejected = true
        core.logRejection(message, remote: context.remoteAddress)
        var error = Almanac_Api_V1_Error()
        error.code = .protocolError
        error.message = message
        // Half-close after the error frame so the peer reads it before EOF; close fully a little later.
        context.writeAndFlush(wrapOutboundOut(.protocolError(error))).assumeIsolated().whenComplete { _ in
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: halfClosed)
            halfClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        }
        closeDeadline?.cancel()
        closeDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) {
            context.close(promise: nil)
        }
    }
}

extension PeerFrame {
    var kindName: String {
        switch self {
        case .hello: "hello"
        case .batch: "batch"
        case .ack: "ack"
        case .ping: "ping"
        case .pong: "pong"
        case .protocolError: "protocol error"
        }
    }
}
