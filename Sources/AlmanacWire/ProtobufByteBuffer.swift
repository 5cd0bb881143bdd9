import NIOCore
import SwiftProtobuf

/// Lets SwiftProtobuf parse from and serialize into a `ByteBuffer` without an intermediate array.
struct ProtobufByteBuffer: SwiftProtobufContiguousBytes {
    var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    init(repeating: UInt8, count: Int) {
        self.buffer = ByteBuffer(repeating: repeating, count: count)
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        self.buffer = ByteBuffer(bytes: sequence)
    }

    var count: Int { buffer.readableBytes }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes(body)
    }
}

extension SwiftProtobuf.Message {
    /// Parses a message from a frame body; a parse failure is a protocol error.
    static func decode(frameBody body: ByteBuffer, frameType: FrameType) throws(WireProtocolError) -> Self {
        do {
            return try Self(serializedBytes: ProtobufByteBuffer(body))
        } catch {
            throw WireProtocolError(.malformedBody, "\(frameType) body is not a valid \(Self.protoMessageName): \(error)")
        }
    }

    /// Serializes the message into a new frame body.
    func encodedFrameBody() throws -> ByteBuffer {
        let bytes: ProtobufByteBuffer = try serializedBytes()
        return bytes.buffer
    }

    /// Builds a frame of `type` carrying this message.
    func frame(_ type: FrameType) throws -> Frame {
        Frame(type: type, body: try encodedFrameBody())
    }
}
