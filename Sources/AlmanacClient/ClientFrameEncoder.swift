import AlmanacWire
import NIOCore
import SwiftProtobuf

/// Encodes the frames a client sends (see docs/wire-format.md: `UInt32 BE length | UInt8 type |
/// protobuf body`) into one buffer: the header is written first and the message serialized right
/// after it, in place (one allocation, no copy). The size is checked before anything is written, so
/// an oversized request fails at once instead of failing its write later.
enum ClientFrameEncoder {
    /// The frame of `message` with type `type`; throws `tooLarge` if its length prefix (type byte
    /// plus body) would exceed `maxFrameSize`.
    static func encode(
        _ message: some SwiftProtobuf.Message, type: FrameType, maxFrameSize: Int
    ) throws(ClientFrameError) -> ByteBuffer {
        var bytes: FramedBytes
        do {
            bytes = try message.serializedBytes()
        } catch {
            throw .unencodable("cannot encode the \(type) frame: \(error)")
        }
        let length = 1 + bytes.count
        guard length <= maxFrameSize else {
            throw .tooLarge("\(type) frame of \(length) bytes exceeds the frame limit of \(maxFrameSize) bytes")
        }
        bytes.buffer.setInteger(type.rawValue, at: bytes.buffer.readerIndex + Frame.lengthFieldSize)
        return bytes.buffer
    }
}

/// Why a frame could not be encoded.
enum ClientFrameError: Error {
    case tooLarge(String)
    case unencodable(String)
}

/// A frame buffer that SwiftProtobuf serializes into: `init(repeating:count:)` allocates the header
/// and `count` body bytes at once and writes the length prefix; the message sees only the body.
struct FramedBytes: SwiftProtobufContiguousBytes {
    var buffer: ByteBuffer

    init(repeating: UInt8, count: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: Frame.headerSize + count)
        buffer.writeInteger(UInt32(truncatingIfNeeded: 1 + count), endianness: .big)
        buffer.writeInteger(FrameType.apiRequest.rawValue)
        buffer.writeRepeatingByte(repeating, count: count)
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        let body = Array(sequence)
        self.init(repeating: 0, count: body.count)
        buffer.setBytes(body, at: buffer.readerIndex + Frame.headerSize)
    }

    /// Bytes of the body.
    var count: Int { buffer.readableBytes - Frame.headerSize }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes { try body(UnsafeRawBufferPointer(rebasing: $0[Frame.headerSize...])) }
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes { try body(UnsafeMutableRawBufferPointer(rebasing: $0[Frame.headerSize...])) }
    }
}
