import AlmanacRaft
import AlmanacWire
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// All mutable state of a ``PeerTransport``, confined to its one event loop. Listener, dialed and accepted
/// channels all live on that loop, so handlers call into the core directly.
final class TransportCore {
    let loop: any EventLoop
    var configuration: PeerTransportConfiguration
    let logger: Logger
    let handlers: PeerTransportHandlers

    private var links: [NodeID: PeerLink] = [:]
    private(set) var health: HealthTracker
    private var serverChannel: (any Channel)?
    private var openChannels: [ObjectIdentifier: any Channel] = [:]
    private var timer: Scheduled<Void>?
    private var stopped = false
    private var pingNonce: UInt64 = 0
    /// When the ping timer last ran (transport clock): a stall of the loop itself is not taken for
    /// a stall of a connection.
    private var lastTickNanos: UInt64 = 0
    private var random = SystemRandomNumberGenerator()
    /// Set once the core is reachable through its loop-bound box (needed by channel initializers).
    var box: NIOLoopBoundBox<TransportCore?>?

    init(configuration: PeerTransportConfiguration, loop: any EventLoop, logger: Logger, handlers: PeerTransportHandlers) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
        self.handlers = handlers
        self.health = HealthTracker(localNode: configuration.local.id, localZone: configuration.local.zone,
                                    thresholds: configuration.healthThresholds, now: Self.now())
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    // MARK: Lifecycle

    func start() -> EventLoopFuture<any Channel> {
        let box = self.box
        let maxFrameSize = configuration.maxFrameSize
        let tls = configuration.tls
        return ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let core = box?.value else { throw ChannelError.ioOnClosedChannel }
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(PeerInboundActivityHandler(core: core))
                    try channel.pipeline.syncOperations.addWireCodec(
                        inbound: PeerFrame.self, outbound: PeerFrame.self, maxFrameSize: maxFrameSize)
                    try channel.pipeline.syncOperations.addHandler(PeerConnectionHandler(core: core, dialedPeer: nil))
                }
            }
            .bind(host: configuration.local.host, port: configuration.local.port)
            .assumeIsolated()
            .map { channel in
                self.serverChannel = channel
                if let port = channel.localAddress?.port { self.configuration.local.port = port }
                self.setPeers(self.configuration.peers)
                self.scheduleTimer()
                self.logger.info("peer transport listening", metadata: [
                    "node": "\(self.configuration.local.id)", "zone": "\(self.configuration.local.zone)",
                    "address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
                ])
                return channel
            }
            .nonisolated()
    }

    func stop() -> EventLoopFuture<Void> {
        stopped = true
        timer?.cancel()
        timer = nil
        for link in links.values {
            link.reconnectTask?.cancel()
            link.reconnectTask = nil
        }
        var closes: [EventLoopFuture<Void>] = []
        if let serverChannel { closes.append(serverChannel.close().recover { _ in }) }
        for channel in openChannels.values { closes.append(channel.close().recover { _ in }) }
        serverChannel = nil
        return EventLoopFuture.andAllSucceed(closes, on: loop)
    }

    /// Adds new peers (dialing those with higher ids), updates changed addresses and removes peers not listed.
    /// Closes the connection to `peer`; it is re-established as after any drop.
    func dropConnection(to peer: NodeID) {
        links[peer]?.channel?.close(promise: nil)
    }

    func setPeers(_ peers: [PeerAddress]) {
        let now = Self.now()
        var wanted: Set<NodeID> = []
        for address in peers where address.id != configuration.local.id {
            wanted.insert(address.id)
            if let link = links[address.id] {
                guard link.address != address else { continue }
                link.address = address
                report(health.addNode(address.id, zone: address.zone, now: now))
                // Reconnect to the new address.
                link.channel?.close(promise: nil)
            } else {
                let link = PeerLink(address: address, localID: configuration.local.id, backoff: configuration.reconnectBackoff)
                links[address.id] = link
                report(health.addNode(address.id, zone: address.zone, now: now))
                if link.dials && !stopped { connect(link) }
            }
        }
        for (id, link) in links where !wanted.contains(id) {
            link.reconnectTask?.cancel()
            link.channel?.close(promise: nil)
            links.removeValue(forKey: id)
            report(health.removeNode(id, now: now))
        }
        configuration.peers = peers
    }

    // MARK: Sending

    func enqueue(_ envelopes: [PeerEnvelope], to peer: NodeID, flushNow: Bool = false) {
        guard !stopped, let link = links[peer] else {
            if !stopped {
                logger.debug("dropping messages for unknown peer", metadata: ["peer": "\(peer)"])
                handlers.onUnreachable(peer, Set(envelopes.map(\.groupID)))
            }
            return
        }
        var dropped: Set<GroupID> = []
        var droppedCount = 0
        let frameBudget = configuration.maxFrameSize - 64
        for envelope in envelopes {
            let size = envelope.estimatedSize
            if size > frameBudget {
                logger.warning("dropping a message larger than the maximum frame size", metadata: [
                    "peer": "\(peer)", "group": "\(envelope.groupID)", "bytes": "\(size)"])
                dropped.insert(envelope.groupID)
                droppedCount += 1
                continue
            }
            if isFull(link, adding: size) {
                // Move what the in-flight window allows onto the connection before dropping anything.
                flush(link)
            }
            if isFull(link, adding: size) {
                switch configuration.overflowPolicy {
                case .dropNewest:
                    dropped.insert(envelope.groupID)
                    droppedCount += 1
                    continue
                case .dropOldest:
                    while !link.queue.isEmpty
                        && (link.queue.count >= configuration.maxQueuedMessages
                            || link.queuedBytes + size > configuration.maxQueuedBytes) {
                        let oldest = link.queue.removeFirst()
                        link.queuedBytes -= oldest.size
                        dropped.insert(oldest.envelope.groupID)
                        droppedCount += 1
                    }
                }
            }
            link.queue.append(PeerLink.Queued(envelope: envelope, size: size))
            link.queuedBytes += size
        }
        if droppedCount > 0 {
            link.statistics.droppedMessages += droppedCount
            handlers.onUnreachable(peer, dropped)
        }
        if flushNow { flush(link) } else { scheduleFlush(link) }
    }

    private func isFull(_ link: PeerLink, adding size: Int) -> Bool {
        link.queue.count >= configuration.maxQueuedMessages || link.queuedBytes + size > configuration.maxQueuedBytes
    }

    private func scheduleFlush(_ link: PeerLink) {
        guard !link.flushScheduled, link.channel != nil else { return }
        link.flushScheduled = true
        loop.assumeIsolated().execute {
            link.flushScheduled = false
            self.flush(link)
        }
    }

    /// Writes queued messages as batches while the in-flight window and the channel allow; flushes once.
    private func flush(_ link: PeerLink) {
        guard let channel = link.channel, link.ready else { return }
        var wrote = false
        while !link.queue.isEmpty
            && link.inFlight.count < configuration.maxInFlightBatches
            && (link.inFlightBytes < configuration.maxInFlightBytes || link.inFlight.isEmpty)
            && channel.isWritable {
            var envelopes: [PeerEnvelope] = []
            var bytes = 0
            while let next = link.queue.first, envelopes.count < configuration.maxBatchMessages,
                  envelopes.isEmpty || bytes + next.size <= configuration.maxBatchBytes {
                link.queue.removeFirst()
                envelopes.append(next.envelope)
                bytes += next.size
            }
            link.queuedBytes -= bytes
            let sequence = link.nextSequence
            link.nextSequence += 1
            link.inFlight.append(PeerLink.InFlightBatch(sequence: sequence, size: bytes, envelopes: envelopes))
            link.inFlightBytes += bytes
            link.statistics.sentBatches += 1
            link.statistics.sentMessages += envelopes.count
            if !wrote { _ = writePendingAck(link, on: channel) }
            let promise = loop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenFailure { error in
                self.batchWriteFailed(link: link, channel: channel, sequence: sequence, error: error)
            }
            channel.write(PeerFrame.batch(sequence: sequence, envelopes: envelopes), promise: promise)
            wrote = true
        }
        if wrote { channel.flush() }
    }

    private func batchWriteFailed(link: PeerLink, channel: any Channel, sequence: UInt64, error: any Error) {
        // Connection failures are handled when the channel goes inactive; here only per-batch failures.
        guard link.channel === channel, let index = link.inFlight.firstIndex(where: { $0.sequence == sequence }) else { return }
        let batch = link.inFlight.remove(at: index)
        link.inFlightBytes -= batch.size
        link.statistics.droppedMessages += batch.envelopes.count
        logger.warning("peer batch could not be sent", metadata: [
            "peer": "\(link.address.id)", "messages": "\(batch.envelopes.count)", "error": "\(error)"])
        handlers.onUnreachable(link.address.id, Set(batch.envelopes.map(\.groupID)))
        flush(link)
    }

    // MARK: Connections

    private func connect(_ link: PeerLink) {
        guard !stopped, link.dials, link.channel == nil, !link.connecting else { return }
        link.connecting = true
        link.reconnectTask = nil
        let box = self.box
        let peer = link.address.id
        let maxFrameSize = configuration.maxFrameSize
        let tls = configuration.tls
        ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout(for: link))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let core = box?.value else { throw ChannelError.ioOnClosedChannel }
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(PeerInboundActivityHandler(core: core))
                    try channel.pipeline.syncOperations.addWireCodec(
                        inbound: PeerFrame.self, outbound: PeerFrame.self, maxFrameSize: maxFrameSize)
                    try channel.pipeline.syncOperations.addHandler(PeerConnectionHandler(core: core, dialedPeer: peer))
                }
            }
            .connect(host: link.address.host, port: link.address.port)
            .assumeIsolated()
            .whenComplete { result in
                link.connecting = false
                if case .failure(let error) = result {
                    self.connectFailed(link, error: error)
                }
            }
    }

    /// The full `connectTimeout` for a peer never reached; for a known one, enough round trips (at
    /// least `quickConnectTimeout`) that a SYN lost in a partition is not waited for.
    private func connectTimeout(for link: PeerLink) -> TimeAmount {
        guard let roundTrip = link.statistics.lastRoundTripNanos else { return configuration.connectTimeout }
        let quick = max(configuration.quickConnectTimeout, .nanoseconds(Int64(clamping: roundTrip) &* 8))
        return min(configuration.connectTimeout, quick)
    }

    private func connectFailed(_ link: PeerLink, error: any Error) {
        link.statistics.connectFailures += 1
        logger.debug("connect to peer failed", metadata: ["peer": "\(link.address)", "error": "\(error)"])
        dropUndeliverable(link, envelopes: link.drainQueue())
        scheduleReconnect(link)
    }

    private func scheduleReconnect(_ link: PeerLink) {
        guard !stopped, link.dials, link.reconnectTask == nil, links[link.address.id] === link else { return }
        let delay = link.backoff.nextDelay(using: &random)
        link.reconnectTask = loop.assumeIsolated().scheduleTask(in: delay) {
            link.reconnectTask = nil
            self.connect(link)
        }
    }

    /// Tracks an active connection so ``stop()`` can close it. Registered on activation (a connect that
    /// fails never becomes active and is never tracked), removed in ``channelClosed(_:peer:)``.
    func register(_ channel: any Channel) {
        guard !stopped else {
            channel.close(promise: nil)
            return
        }
        openChannels[ObjectIdentifier(channel)] = channel
    }

    /// Makes `channel` the connection to `peer`, replacing (and closing) an older one.
    func attach(peer: NodeID, channel: any Channel, ready: Bool) {
        guard let link = links[peer], !stopped else {
            channel.close(promise: nil)
            return
        }
        if let old = link.channel, old !== channel {
            dropUndeliverable(link, envelopes: link.detachConnection())
            old.close(promise: nil)
        }
        link.channel = channel
        link.ready = ready
        link.lastInboundNanos = Self.now()
    }

    /// The handshake on `channel` completed: batches may flow.
    func handshakeConfirmed(peer: NodeID, channel: any Channel) {
        guard let link = links[peer], link.channel === channel else { return }
        link.backoff.reset()
        link.ready = true
        link.statistics.connections += 1
        logger.info("peer connected", metadata: ["peer": "\(link.address)", "dialed": "\(link.dials)"])
        flush(link)
    }

    func channelClosed(_ channel: any Channel, peer: NodeID?) {
        openChannels.removeValue(forKey: ObjectIdentifier(channel))
        guard let peer, let link = links[peer], link.channel === channel else { return }
        let lost = detach(link)
        if !stopped {
            logger.info("peer disconnected", metadata: ["peer": "\(link.address)", "lostInFlight": "\(lost)"])
        }
    }

    /// Forgets the link's connection: what was in flight on it is reported undeliverable (Raft
    /// resends) and the dialing side connects anew. Returns how many messages were lost.
    private func detach(_ link: PeerLink) -> Int {
        let lost = link.detachConnection()
        dropUndeliverable(link, envelopes: lost)
        if link.dials { scheduleReconnect(link) }
        return lost.count
    }

    func writable(peer: NodeID, channel: any Channel) {
        guard let link = links[peer], link.channel === channel else { return }
        flush(link)
    }

    private func dropUndeliverable(_ link: PeerLink, envelopes: [PeerEnvelope]) {
        guard !envelopes.isEmpty else { return }
        link.statistics.droppedMessages += envelopes.count
        if !stopped { handlers.onUnreachable(link.address.id, Set(envelopes.map(\.groupID))) }
    }

    // MARK: Inbound

    func hello() -> Almanac_Raft_V1_PeerHello {
        var hello = Almanac_Raft_V1_PeerHello()
        hello.protocolVersion = 1
        hello.clusterID = configuration.clusterID
        hello.nodeID = configuration.local.id
        hello.zone = configuration.local.zone
        return hello
    }

    /// Why an incoming hello is refused, or nil to accept it.
    func validateIncomingHello(_ hello: Almanac_Raft_V1_PeerHello) -> String? {
        if hello.protocolVersion != 1 { return "unsupported peer protocol version \(hello.protocolVersion)" }
        if hello.clusterID != configuration.clusterID {
            return "cluster '\(hello.clusterID)' does not match '\(configuration.clusterID)'"
        }
        guard let link = links[hello.nodeID] else { return "node \(hello.nodeID) is not a configured peer" }
        if link.dials { return "node \(hello.nodeID) has the higher id and must be dialed by node \(configuration.local.id)" }
        if stopped { return "transport is stopping" }
        return nil
    }

    /// Bytes arrived on `channel` (``PeerInboundActivityHandler``): the connection is not stalled,
    /// even while a large frame is still on its way.
    func bytesArrived(on channel: any Channel) {
        for link in links.values where link.channel === channel {
            link.lastInboundNanos = Self.now()
            return
        }
    }

    /// A frame arrived from `peer`: it is alive (the connection's own liveness is counted in bytes,
    /// ``bytesArrived(on:)``).
    func heard(from peer: NodeID, on channel: any Channel) {
        report(health.heard(from: peer, at: Self.now()))
    }

    func deliver(from peer: NodeID, envelopes: [PeerEnvelope]) {
        if let link = links[peer] {
            link.statistics.receivedBatches += 1
            link.statistics.receivedMessages += envelopes.count
        }
        guard !envelopes.isEmpty else { return }
        handlers.onReceive(peer, envelopes)
    }

    /// Batches up to `sequence` (`count` of them since the last call) arrived from `peer` on
    /// `channel`. Returns false when the caller must acknowledge them itself (not the link's current
    /// connection, or acks are not delayed); otherwise the ack goes in front of the next batch to the
    /// peer, or on its own after `ackDelay`.
    func receivedBatches(peer: NodeID, upTo sequence: UInt64, count: Int, channel: any Channel) -> Bool {
        guard configuration.ackDelay > .zero, let link = links[peer], link.channel === channel, link.ready else { return false }
        link.ackToSend = max(link.ackToSend, sequence)
        link.batchesToAck += count
        if link.batchesToAck * 2 >= configuration.maxInFlightBatches {
            sendAck(link)
        } else if link.ackTimer == nil {
            link.ackTimer = loop.assumeIsolated().scheduleTask(in: configuration.ackDelay) {
                link.ackTimer = nil
                self.sendAck(link)
            }
        }
        return true
    }

    /// Writes the pending ack of `link` as its own frame.
    private func sendAck(_ link: PeerLink) {
        guard let channel = link.channel, writePendingAck(link, on: channel) else { return }
        link.statistics.sentAcks += 1
        channel.flush()
    }

    /// Writes (without flushing) the pending ack of `link`, if any.
    private func writePendingAck(_ link: PeerLink, on channel: any Channel) -> Bool {
        guard link.ackToSend > 0 else { return false }
        channel.write(PeerFrame.ack(sequence: link.ackToSend), promise: nil)
        link.ackToSend = 0
        link.batchesToAck = 0
        return true
    }

    func acknowledged(peer: NodeID, sequence: UInt64, channel: any Channel) {
        guard let link = links[peer], link.channel === channel else { return }
        while let first = link.inFlight.first, first.sequence <= sequence {
            link.inFlight.removeFirst()
            link.inFlightBytes -= first.size
        }
        flush(link)
    }

    func roundTrip(peer: NodeID, sentAtNanos: UInt64) {
        let now = Self.now()
        links[peer]?.statistics.lastRoundTripNanos = now >= sentAtNanos ? now - sentAtNanos : 0
    }

    // MARK: Timer: pings and health

    private func scheduleTimer() {
        guard !stopped else { return }
        timer = loop.assumeIsolated().scheduleTask(in: configuration.pingInterval) {
            self.tick()
            self.scheduleTimer()
        }
    }

    private func tick() {
        let now = Self.now()
        let loopWasLate = lastTickNanos != 0 && now - lastTickNanos > 2 * UInt64(configuration.pingInterval.nanoseconds)
        lastTickNanos = now
        for link in links.values {
            guard let channel = link.channel, link.ready else { continue }
            if !loopWasLate, let stalled = configuration.stalledConnectionTimeout,
               now > link.lastInboundNanos, now - link.lastInboundNanos > UInt64(stalled.nanoseconds) {
                // Our pings went unanswered for the whole timeout: the connection is stuck in TCP's
                // retransmission backoff or dead. It is detached at once (a TLS close waits for the
                // silent peer), then closed.
                link.statistics.stalledConnections += 1
                let lost = detach(link)
                logger.warning("peer connection stalled; reconnecting", metadata: [
                    "peer": "\(link.address)", "silentMs": "\((now - link.lastInboundNanos) / 1_000_000)",
                    "lostInFlight": "\(lost)"])
                channel.close(promise: nil)
                continue
            }
            pingNonce &+= 1
            channel.writeAndFlush(PeerFrame.ping(nonce: pingNonce, sentAtNanos: now), promise: nil)
        }
        report(health.evaluate(now: now))
    }

    private func report(_ events: [HealthEvent]) {
        for event in events {
            switch event {
            case .node(_, _, _, .alive, _), .zone(_, _, .healthy, _):
                logger.info("health transition: \(event)")
            default:
                logger.warning("health transition: \(event)")
            }
            handlers.onHealthEvent(event)
        }
    }

    // MARK: Queries

    func statistics() -> [NodeID: PeerLinkStatistics] {
        links.mapValues(\.snapshot)
    }

    // MARK: Logging helpers for the connection handler

    func logProtocolError(from peer: NodeID, error: Almanac_Api_V1_Error) {
        logger.warning("peer reported a protocol error", metadata: ["peer": "\(peer)", "code": "\(error.code)", "message": "\(error.message)"])
    }

    func logViolation(_ violation: WireProtocolViolation, peer: NodeID?, remote: SocketAddress?) {
        logger.warning("peer connection violated the protocol", metadata: [
            "peer": "\(peer.map { "\($0)" } ?? "unidentified")", "remote": "\(remote.map { "\($0)" } ?? "?")",
            "error": "\(violation.error)"])
    }

    func logRejection(_ message: String, remote: SocketAddress?) {
        logger.warning("peer connection refused", metadata: ["remote": "\(remote.map { "\($0)" } ?? "?")", "reason": "\(message)"])
    }

    func logConnectionError(_ error: any Error, peer: NodeID?) {
        logger.debug("peer connection error", metadata: ["peer": "\(peer.map { "\($0)" } ?? "unidentified")", "error": "\(error)"])
    }
}
