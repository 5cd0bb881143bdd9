import AlmanacRaft
import AlmanacWire
import NIOCore
import NIOEmbedded
import SwiftProtobuf
import Testing


/// Framing and protocol enforcement on an EmbeddedChannel running the server side of the client protocol.
@Suite struct FramingTests {
    static let maxFrameSize = 1024

    private func makeServerChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addWireCodec(
            inbound: APIClientFrame.self, outbound: APIServerFrame.self, maxFrameSize: Self.maxFrameSize)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func request(_ id: UInt64, name: String = "file") -> Almanac_Api_V1_Request {
        var request = Almanac_Api_V1_Request()
        request.requestID = id
        var lookup = Almanac_Api_V1_LookupRequest()
        lookup.parent = 1
        lookup.name = name
        request.lookup = lookup
        return request
    }

    /// Raw bytes of one frame, built by hand as a foreign client would.
    private func rawFrame(type: UInt8, body: [UInt8]) -> [UInt8] {
        let length = UInt32(1 + body.count)
        return [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF), type] + body
    }

    private func rawRequestFrame(_ request: Almanac_Api_V1_Request) throws -> [UInt8] {
        rawFrame(type: FrameType.apiRequest.rawValue, body: try request.serializedBytes())
    }

    /// Reads every outbound frame the channel wrote, parsed with the client-side decoder.
    private func outboundFrames(_ channel: EmbeddedChannel) throws -> [APIServerFrame] {
        var bytes = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) {
            bytes.writeBuffer(&chunk)
        }
        var decoder = FrameDecoder(maxFrameSize: 1 << 20)
        var frames: [APIServerFrame] = []
        while let frame = try decoder.decode(buffer: &bytes) {
            frames.append(try APIServerFrame(frame: frame))
        }
        #expect(bytes.readableBytes == 0, "trailing partial frame in output")
        return frames
    }

    private func expectProtocolErrorAndClose(_ channel: EmbeddedChannel, code: Almanac_Api_V1_ErrorCode,
                                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let frames = try outboundFrames(channel)
        #expect(frames.count == 1, sourceLocation: sourceLocation)
        guard case .protocolError(let error)? = frames.first else {
            Issue.record("expected a protocol error frame, got \(frames)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == code, sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        #expect(!channel.isActive, "connection must be closed", sourceLocation: sourceLocation)
    }

    @Test func exactByteLayout() throws {
        var encoded = ByteBuffer()
        FrameEncoder().encode(data: Frame(type: .apiResponse, body: ByteBuffer(bytes: [0xAA, 0xBB])), out: &encoded)
        #expect(Array(encoded.readableBytesView) == [0, 0, 0, 3, 0x02, 0xAA, 0xBB])
    }

    /// The worked example in docs/wire-format.md: a lookup of name "a" in the root directory, request id 1.
    @Test func documentedExampleFrame() throws {
        let expected: [UInt8] = [0x00, 0x00, 0x00, 0x0A, 0x01, 0x08, 0x01, 0x62, 0x05, 0x08, 0x01, 0x12, 0x01, 0x61]
        let frame = try APIClientFrame.request(request(1, name: "a")).makeFrame()
        var encoded = ByteBuffer()
        FrameEncoder().encode(data: frame, out: &encoded)
        #expect(Array(encoded.readableBytesView) == expected)
        let channel = try makeServerChannel()
        try channel.writeInbound(ByteBuffer(bytes: expected))
        #expect(try channel.readInbound(as: APIClientFrame.self) == .request(request(1, name: "a")))
    }

    @Test func partialFramesAreReassembledByteByByte() throws {
        let channel = try makeServerChannel()
        let bytes = try rawRequestFrame(request(42, name: "partial"))
        for byte in bytes.dropLast() {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            #expect(try channel.readInbound(as: APIClientFrame.self) == nil)
        }
        try channel.writeInbound(ByteBuffer(bytes: [bytes.last!]))
        #expect(try channel.readInbound(as: APIClientFrame.self) == .request(request(42, name: "partial")))
        #expect(channel.isActive)
    }

    @Test func manyFramesInOneBufferArriveInOrder() throws {
        let channel = try makeServerChannel()
        var all: [UInt8] = []
        for id in 1...50 { all += try rawRequestFrame(request(UInt64(id))) }
        // Also split across a frame boundary: first 1.5 frames' worth in one write, the rest in another.
        let split = all.count / 3 + 5
        try channel.writeInbound(ByteBuffer(bytes: all[..<split]))
        try channel.writeInbound(ByteBuffer(bytes: all[split...]))
        for id in 1...50 {
            #expect(try channel.readInbound(as: APIClientFrame.self) == .request(request(UInt64(id))))
        }
        #expect(try channel.readInbound(as: APIClientFrame.self) == nil)
    }

    @Test func responsesAreFramed() throws {
        let channel = try makeServerChannel()
        var response = Almanac_Api_V1_Response()
        response.requestID = 5
        response.error.code = .enoent
        response.error.message = "no such name"
        try channel.writeOutbound(APIServerFrame.response(response))
        #expect(try outboundFrames(channel) == [.response(response)])
    }

    @Test func oversizedFrameGetsTooLargeAndClose() throws {
        let channel = try makeServerChannel()
        // Only the header arrives: the frame is rejected before its body is buffered.
        let length = UInt32(Self.maxFrameSize + 1)
        try channel.writeInbound(ByteBuffer(bytes: [UInt8(length >> 24), UInt8((length >> 16) & 0xFF),
                                                    UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF), 0x01]))
        try expectProtocolErrorAndClose(channel, code: .tooLarge)
    }

    @Test func frameAtTheLimitIsAccepted() throws {
        let channel = try makeServerChannel()
        var big = request(1, name: "")
        // Pad the request up to exactly the limit using the name field.
        let overhead = try rawRequestFrame(big).count - Frame.lengthFieldSize
        // The name costs a tag byte and a two-byte length varint, and the enclosing lookup message's
        // length varint grows from one byte to two.
        big.lookup.name = String(repeating: "x", count: Self.maxFrameSize - overhead - 4)
        let bytes = try rawRequestFrame(big)
        #expect(bytes.count - Frame.lengthFieldSize == Self.maxFrameSize)
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        #expect(try channel.readInbound(as: APIClientFrame.self) == .request(big))
    }

    @Test func unknownFrameTypeGetsProtocolErrorAndClose() throws {
        let channel = try makeServerChannel()
        try channel.writeInbound(ByteBuffer(bytes: rawFrame(type: 0x55, body: [1, 2, 3])))
        try expectProtocolErrorAndClose(channel, code: .protocolError)
    }

    @Test func malformedBodyGetsProtocolErrorAndClose() throws {
        let channel = try makeServerChannel()
        // A valid request first, then a request frame whose body is not protobuf (truncated varint field).
        try channel.writeInbound(ByteBuffer(bytes: try rawRequestFrame(request(1))))
        try channel.writeInbound(ByteBuffer(bytes: rawFrame(type: FrameType.apiRequest.rawValue, body: [0x08, 0xFF, 0xFF])))
        #expect(try channel.readInbound(as: APIClientFrame.self) == .request(request(1)))
        #expect(try channel.readInbound(as: APIClientFrame.self) == nil)
        try expectProtocolErrorAndClose(channel, code: .protocolError)
    }

    @Test func garbageGetsProtocolErrorAndClose() throws {
        let channel = try makeServerChannel()
        // An HTTP request line: parsed as a huge length prefix.
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        try expectProtocolErrorAndClose(channel, code: .tooLarge)
    }

    @Test func emptyFrameGetsProtocolErrorAndClose() throws {
        let channel = try makeServerChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 0]))
        try expectProtocolErrorAndClose(channel, code: .protocolError)
    }

    @Test func frameTypeOfTheOtherDirectionIsRejected() throws {
        let channel = try makeServerChannel()
        // A peer frame on a client connection.
        try channel.writeInbound(ByteBuffer(bytes: rawFrame(type: FrameType.peerPing.rawValue, body: [])))
        try expectProtocolErrorAndClose(channel, code: .protocolError)
    }

    @Test func inputAfterAViolationIsIgnored() throws {
        let channel = try makeServerChannel()
        var bytes = rawFrame(type: 0x66, body: [])
        bytes += try rawRequestFrame(request(2))
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        #expect(try channel.readInbound(as: APIClientFrame.self) == nil)
        try expectProtocolErrorAndClose(channel, code: .protocolError)
    }

    @Test func oversizedOutboundMessageFailsItsWriteAndKeepsTheConnection() throws {
        let channel = try makeServerChannel()
        var response = Almanac_Api_V1_Response()
        response.error.message = String(repeating: "y", count: Self.maxFrameSize)
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(APIServerFrame.response(response), promise: promise)
        #expect(throws: WireProtocolError.self) { try promise.futureResult.wait() }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(channel.isActive)
    }

    @Test func peerFramesRoundTripThroughTheCodec() throws {
        let sender = EmbeddedChannel()
        try sender.pipeline.syncOperations.addWireCodec(inbound: PeerFrame.self, outbound: PeerFrame.self, maxFrameSize: 1 << 20)
        let receiver = EmbeddedChannel()
        try receiver.pipeline.syncOperations.addWireCodec(inbound: PeerFrame.self, outbound: PeerFrame.self, maxFrameSize: 1 << 20)

        var hello = Almanac_Raft_V1_PeerHello()
        hello.nodeID = 3
        hello.zone = "z1"
        hello.clusterID = "c"
        hello.protocolVersion = 1
        let envelopes = [
            PeerEnvelope(groupID: 1, message: Message(type: .append, from: 1, to: 2, term: 2, entries: [Entry(term: 2, index: 1, data: [5])])),
            PeerEnvelope(groupID: 2, message: Message(type: .heartbeat, from: 1, to: 2, term: 2, commit: 1)),
        ]
        let frames: [PeerFrame] = [.hello(hello), .batch(sequence: 1, envelopes: envelopes), .ack(sequence: 1),
                                   .ping(nonce: 7, sentAtNanos: 99), .pong(nonce: 7, sentAtNanos: 99)]
        for frame in frames { try sender.writeOutbound(frame) }
        while let bytes = try sender.readOutbound(as: ByteBuffer.self) { try receiver.writeInbound(bytes) }
        for frame in frames { #expect(try receiver.readInbound(as: PeerFrame.self) == frame) }
    }

    @Test func invalidRaftEnumInABatchIsAProtocolError() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addWireCodec(inbound: PeerFrame.self, outbound: PeerFrame.self, maxFrameSize: 1 << 20)
        var batch = PeerBatchCodec.encode(sequence: 1, envelopes: [PeerEnvelope(groupID: 1, message: Message(type: .vote, from: 1, to: 2))])
        batch.envelopes[0].message.type = .UNRECOGNIZED(77)
        try channel.writeInbound(ByteBuffer(bytes: rawFrame(type: FrameType.peerBatch.rawValue, body: try batch.serializedBytes())))
        #expect(try channel.readInbound(as: PeerFrame.self) == nil)
        var out = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { out.writeBuffer(&chunk) }
        var decoder = FrameDecoder(maxFrameSize: 1 << 20)
        let frame = try #require(try decoder.decode(buffer: &out))
        guard case .protocolError(let error) = try PeerFrame(frame: frame) else {
            Issue.record("expected protocol error frame")
            return
        }
        #expect(error.code == .protocolError)
        #expect(error.message.contains("77"))
    }
}
