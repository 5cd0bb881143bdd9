import AlmanacWire
import NIOCore
import SwiftProtobuf

/// A request serialized into its frame body before it is written, so that its size is checked up
/// front (an oversized request fails at once instead of failing its write later) and the encoding
/// happens once, straight into a `ByteBuffer`.
struct RequestFrame: FrameEncodable {
    let frame: Frame

    /// Serializes `request`; throws `tooLarge` if the frame would exceed `maxFrameSize` (the length
    /// prefix counts the type byte and the body).
    init(_ request: Almanac_Api_V1_Request, maxFrameSize: Int) throws(RequestFrameError) {
        let body: ByteBufferBytes
        do {
            body = try request.serializedBytes()
        } catch {
            throw .unencodable("cannot encode the request: \(error)")
        }
        frame = Frame(type: .apiRequest, body: body.buffer)
        guard frame.length <= maxFrameSize else {
            throw .tooLarge("request of \(frame.length) bytes exceeds the frame limit of \(maxFrameSize) bytes")
        }
    }

    func makeFrame() -> Frame { frame }
}

/// Why a request could not be framed.
enum RequestFrameError: Error {
    case tooLarge(String)
    case unencodable(String)
}

/// Lets SwiftProtobuf serialize straight into a `ByteBuffer`.
struct ByteBufferBytes: SwiftProtobufContiguousBytes {
    var buffer: ByteBuffer

    init(repeating: UInt8, count: Int) {
        buffer = ByteBuffer(repeating: repeating, count: count)
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        buffer = ByteBuffer(bytes: sequence)
    }

    var count: Int { buffer.readableBytes }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes(body)
    }
}
