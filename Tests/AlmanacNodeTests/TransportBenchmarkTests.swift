import AlmanacNode
import AlmanacRaft
import AlmanacWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// Loopback micro-benchmark of the peer transport. Disabled by default; run in release mode:
///
///     swift build -c release --build-tests
///     ALMANAC_BENCH=1 swift test -c release --skip-build --filter TransportBenchmark
///
/// It prints numbers and asserts only that every message arrived (no timing assertions).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ALMANAC_BENCH"] == "1"), .serialized)
struct TransportBenchmark {
    typealias T = TransportTestSupport

    private func pair(_ configure: (inout PeerTransportConfiguration) -> Void = { _ in },
                      onA: @escaping @Sendable (NodeID, [PeerEnvelope]) -> Void,
                      onB: @escaping @Sendable (NodeID, [PeerEnvelope]) -> Void,
                      group: MultiThreadedEventLoopGroup) async throws -> (PeerTransport, PeerTransport) {
        let loops = Array(group.makeIterator())
        var configA = T.configuration(id: 1, zone: "a")
        var configB = T.configuration(id: 2, zone: "b")
        configure(&configA)
        configure(&configB)
        let a = try await PeerTransport.start(configuration: configA, eventLoop: loops[0], logger: T.quietLogger,
                                              handlers: PeerTransportHandlers(onReceive: onA))
        let b = try await PeerTransport.start(configuration: configB, eventLoop: loops[1 % loops.count], logger: T.quietLogger,
                                              handlers: PeerTransportHandlers(onReceive: onB))
        try await a.setPeers([b.localAddress])
        try await b.setPeers([a.localAddress])
        _ = try await T.eventually { try await a.statistics()[2]?.connected == true }
        return (a, b)
    }

    private func throughput(label: String, messages: Int, chunk: Int, outstanding: Int,
                            configure: @escaping (inout PeerTransportConfiguration) -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let received = NIOLockedValueBox(0)
        let (a, b) = try await pair(configure, onA: { _, _ in }, onB: { _, envelopes in
            received.withLockedValue { $0 += envelopes.count }
        }, group: group)
        let batch = (1...chunk).map { T.append(group: GroupID($0 % 16), index: LogIndex($0), from: 1, to: 2) }
        let start = ContinuousClock.now
        var sent = 0
        while sent < messages {
            if sent - received.withLockedValue({ $0 }) < outstanding {
                a.send(to: 2, batch)
                sent += chunk
            } else {
                try await Task.sleep(for: .microseconds(50))
            }
        }
        _ = await T.eventually(timeout: .seconds(60)) { received.withLockedValue { $0 } >= sent }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let stats = try await a.statistics()[2]
        let frames = stats?.sentBatches ?? 0
        print(String(format: "BENCH %@: %d messages in %.2f s = %.0f msg/s; %d batch frames = %.0f frames/s (%.1f msg/frame), dropped %d",
                     label, sent, seconds, Double(sent) / seconds, frames, Double(frames) / seconds,
                     Double(sent) / Double(max(frames, 1)), stats?.droppedMessages ?? -1))
        #expect(received.withLockedValue { $0 } == sent)
        try await a.stop()
        try await b.stop()
        try await group.shutdownGracefully()
    }

    @Test func batchedThroughput() async throws {
        // Outstanding stays below the per-peer queue bound (16,384), so nothing is dropped.
        try await throughput(label: "batched 32-byte appends", messages: 1_000_000, chunk: 500, outstanding: 12_000) { _ in }
    }

    @Test func oneMessagePerFrameThroughput() async throws {
        try await throughput(label: "one message per frame", messages: 200_000, chunk: 100, outstanding: 4_000) { config in
            config.maxBatchMessages = 1
            config.maxInFlightBatches = 4096
        }
    }

    /// The framing layer alone over loopback: small frames through FrameEncoder -> socket -> FrameDecoder,
    /// no protobuf, one flush per 256 frames (comparable to a raw NIO frame benchmark).
    @Test func framingOnlyOverLoopback() async throws {
        let total = 1_000_000
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        let counted = NIOLockedValueBox(0)
        let server = try await ServerBootstrap(group: loops[0], childGroup: loops[0])
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: 1 << 20)))
                    try channel.pipeline.syncOperations.addHandler(FrameCounter(counted: counted))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = try await ClientBootstrap(group: loops[1])
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
                }
            }
            .connect(to: server.localAddress!).get()
        let body = ByteBuffer(bytes: Array(repeating: 7, count: 32))
        let start = ContinuousClock.now
        var sent = 0
        while sent < total {
            if sent - counted.withLockedValue({ $0 }) > 200_000 {
                try await Task.sleep(for: .microseconds(100))
                continue
            }
            let burst = 1_024
            try await client.eventLoop.submit {
                for index in 0..<burst {
                    let frame = Frame(type: .peerPing, body: body)
                    if index % 256 == 255 {
                        client.writeAndFlush(frame, promise: nil)
                    } else {
                        client.write(frame, promise: nil)
                    }
                }
                client.flush()
            }.get()
            sent += burst
        }
        _ = await T.eventually(timeout: .seconds(60)) { counted.withLockedValue { $0 } >= sent }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "BENCH framing only (37-byte frames, loopback): %d frames in %.2f s = %.0f frames/s",
                     sent, seconds, Double(sent) / seconds))
        #expect(counted.withLockedValue { $0 } == sent)
        try await client.close()
        try await server.close()
        try await group.shutdownGracefully()
    }

    /// CPU cost of the codec alone (no sockets): Swift envelopes -> frame bytes -> Swift envelopes.
    @Test func codecOnly() throws {
        let envelopes = (1...1_000).map { T.append(group: GroupID($0 % 16), index: LogIndex($0), from: 1, to: 2) }
        let rounds = 300
        var decodedCount = 0
        var frameBytes = 0
        let start = ContinuousClock.now
        for round in 0..<rounds {
            let frame = try PeerFrame.batch(sequence: UInt64(round + 1), envelopes: envelopes).makeFrame()
            frameBytes = frame.length
            guard case .batch(_, let decoded) = try PeerFrame(frame: frame) else { throw WireDecodingError("not a batch") }
            decodedCount += decoded.count
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "BENCH codec only: %d messages encoded+decoded in %.2f s = %.0f msg/s (%.2f µs/msg; frame of 1000 messages = %d bytes)",
                     decodedCount, seconds, Double(decodedCount) / seconds, seconds * 1e6 / Double(decodedCount), frameBytes))
        #expect(decodedCount == rounds * envelopes.count)
    }

    @Test func pingPongLatency() async throws {
        let rounds = 20_000, warmup = 1_000
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let bBox = NIOLockedValueBox<PeerTransport?>(nil)
        let aBox = NIOLockedValueBox<PeerTransport?>(nil)
        let samples = NIOLockedValueBox<[UInt64]>([])
        let lastSent = NIOLockedValueBox<UInt64>(0)
        let done = group.next().makePromise(of: Void.self)
        let ping = [T.heartbeat(group: 1, from: 1, to: 2, commit: 1)]
        let pong = [PeerEnvelope(groupID: 1, message: Message(type: .heartbeatResponse, from: 2, to: 1, term: 1))]

        let (a, b) = try await pair(onA: { _, _ in
            let now = NIODeadline.now().uptimeNanoseconds
            let count = samples.withLockedValue { samples in
                samples.append(now - lastSent.withLockedValue { $0 })
                return samples.count
            }
            if count >= rounds + warmup {
                done.succeed()
            } else {
                lastSent.withLockedValue { $0 = NIODeadline.now().uptimeNanoseconds }
                aBox.withLockedValue { $0 }?.send(to: 2, ping)
            }
        }, onB: { _, _ in
            bBox.withLockedValue { $0 }?.send(to: 1, pong)
        }, group: group)
        aBox.withLockedValue { $0 = a }
        bBox.withLockedValue { $0 = b }
        _ = try await T.eventually { try await b.statistics()[1]?.connected == true }

        lastSent.withLockedValue { $0 = NIODeadline.now().uptimeNanoseconds }
        a.send(to: 2, ping)
        try await done.futureResult.get()
        let sorted = samples.withLockedValue { Array($0.dropFirst(warmup)) }.sorted()
        func percentile(_ p: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000 }
        let mean = Double(sorted.reduce(0, +)) / Double(sorted.count) / 1000
        print(String(format: "BENCH ping-pong (one Raft message each way through PeerTransport), %d rounds: mean %.1f µs, p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs",
                     sorted.count, mean, percentile(0.5), percentile(0.99), percentile(0.999)))
        #expect(sorted.count == rounds)
        try await a.stop()
        try await b.stop()
        try await group.shutdownGracefully()
    }
}

private final class FrameCounter: ChannelInboundHandler {
    typealias InboundIn = Frame
    let counted: NIOLockedValueBox<Int>
    private var pending = 0

    init(counted: NIOLockedValueBox<Int>) { self.counted = counted }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { pending += 1 }

    func channelReadComplete(context: ChannelHandlerContext) {
        let add = pending
        pending = 0
        counted.withLockedValue { $0 += add }
    }
}
