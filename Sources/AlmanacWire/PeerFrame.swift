import AlmanacRaft
import Foundation
import NIOCore

/// Everything that travels on a peer connection, as Swift values.
public enum PeerFrame: Sendable, Hashable, FrameDecodable, FrameEncodable {
    /// Handshake: the dialer introduces itself; the acceptor answers with its own hello.
    case hello(Almanac_Raft_V1_PeerHello)
    /// Raft traffic. Heartbeats are coalesced on the wire (``PeerBatchCodec``).
    case batch(sequence: UInt64, envelopes: [PeerEnvelope])
    /// Cumulative acknowledgement of batches up to `sequence`.
    case ack(sequence: UInt64)
    case ping(nonce: UInt64, sentAtNanos: UInt64)
    case pong(nonce: UInt64, sentAtNanos: UInt64)
    /// The remote side is about to close the connection because of a protocol violation.
    case protocolError(Almanac_Api_V1_Error)

    /// Batches go through the hand-written ``PeerBatchFastCodec`` (the same bytes as the generated
    /// code). `ALMANAC_GENERATED_PEER_CODEC=1` in the environment selects the generated code instead:
    /// a measurement switch for before/after instruction counts (bench/instructions.sh --env).
    static let fastBatchCodec = getenv("ALMANAC_GENERATED_PEER_CODEC") == nil

    public init(frame: Frame) throws(WireProtocolError) {
        switch frame.type {
        case .peerHello:
            self = .hello(try .decode(frameBody: frame.body, frameType: frame.type))
        case .peerBatch:
            if Self.fastBatchCodec, let decoded = PeerBatchFastCodec.decode(frame.body) {
                self = .batch(sequence: decoded.sequence, envelopes: decoded.envelopes)
                return
            }
            let batch = try Almanac_Raft_V1_PeerBatch.decode(frameBody: frame.body, frameType: frame.type)
            do {
                self = .batch(sequence: batch.sequence, envelopes: try PeerBatchCodec.decode(batch))
            } catch {
                throw WireProtocolError(.malformedBody, "peer batch \(batch.sequence): \(error.message)")
            }
        case .peerAck:
            self = .ack(sequence: try Almanac_Raft_V1_PeerAck.decode(frameBody: frame.body, frameType: frame.type).sequence)
        case .peerPing:
            let ping = try Almanac_Raft_V1_PeerPing.decode(frameBody: frame.body, frameType: frame.type)
            self = .ping(nonce: ping.nonce, sentAtNanos: ping.sentAtNanos)
        case .peerPong:
            let pong = try Almanac_Raft_V1_PeerPing.decode(frameBody: frame.body, frameType: frame.type)
            self = .pong(nonce: pong.nonce, sentAtNanos: pong.sentAtNanos)
        case .protocolError:
            self = .protocolError(try .decode(frameBody: frame.body, frameType: frame.type))
        case .apiRequest, .apiResponse:
            throw WireProtocolError(.unexpectedFrameType, "frame type \(frame.type) is not allowed on a peer connection")
        }
    }

    public func makeFrame() throws -> Frame {
        switch self {
        case .hello(let hello):
            return try hello.frame(.peerHello)
        case .batch(let sequence, let envelopes):
            if Self.fastBatchCodec, let body = PeerBatchFastCodec.encode(sequence: sequence, envelopes: envelopes) {
                return Frame(type: .peerBatch, body: body)
            }
            return try PeerBatchCodec.encode(sequence: sequence, envelopes: envelopes).frame(.peerBatch)
        case .ack(let sequence):
            var ack = Almanac_Raft_V1_PeerAck()
            ack.sequence = sequence
            return try ack.frame(.peerAck)
        case .ping(let nonce, let sentAt), .pong(let nonce, let sentAt):
            var ping = Almanac_Raft_V1_PeerPing()
            ping.nonce = nonce
            ping.sentAtNanos = sentAt
            if case .ping = self { return try ping.frame(.peerPing) }
            return try ping.frame(.peerPong)
        case .protocolError(let error):
            return try error.frame(.protocolError)
        }
    }
}
