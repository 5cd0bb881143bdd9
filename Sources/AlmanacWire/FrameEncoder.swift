import NIOCore

/// Writes ``Frame``s as `length (UInt32 BE) | type (UInt8) | body`. Use it as
/// `MessageToByteHandler(FrameEncoder())`. Size limits are enforced before a frame reaches it
/// (see ``WireCodecHandler``), so encoding never fails.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data frame: Frame, out: inout ByteBuffer) {
        out.reserveCapacity(minimumWritableBytes: Frame.headerSize + frame.body.readableBytes)
        out.writeInteger(UInt32(truncatingIfNeeded: frame.length), endianness: .big)
        out.writeInteger(frame.type.rawValue)
        out.writeImmutableBuffer(frame.body)
    }
}
