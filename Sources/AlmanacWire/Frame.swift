import NIOCore

/// One length-prefixed frame: a type tag and an opaque (protobuf) body.
///
/// On the wire: `UInt32 big-endian length` (counting the type byte and the body), `UInt8 type`, `body`.
public struct Frame: Sendable, Hashable {
    /// Bytes of the length prefix.
    public static let lengthFieldSize = 4
    /// Bytes of the length prefix plus the type byte.
    public static let headerSize = 5

    public var type: FrameType
    public var body: ByteBuffer

    public init(type: FrameType, body: ByteBuffer) {
        self.type = type
        self.body = body
    }

    /// The value of the length prefix for this frame: type byte plus body.
    public var length: Int { 1 + body.readableBytes }
}
