import NIOCore

/// Splits a byte stream into ``Frame``s. Use it as `ByteToMessageHandler(FrameDecoder(maxFrameSize:))`.
///
/// It rejects a frame as soon as its header is readable: a length of zero, a length above
/// `maxFrameSize` (before buffering the body) or an unknown type byte all throw a ``WireProtocolError``,
/// which the codec handler turns into a protocol-error frame and a clean close.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    /// Largest accepted value of the length prefix (type byte plus body).
    public let maxFrameSize: Int

    public init(maxFrameSize: Int) {
        precondition(maxFrameSize >= 1, "maxFrameSize must allow at least the type byte")
        self.maxFrameSize = maxFrameSize
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        guard length > 0 else {
            throw WireProtocolError(.emptyFrame, "frame length 0: a frame needs at least its type byte")
        }
        guard UInt64(length) <= UInt64(maxFrameSize) else {
            throw WireProtocolError(.frameTooLarge, "frame of \(length) bytes exceeds the limit of \(maxFrameSize) bytes")
        }
        guard let rawType = buffer.getInteger(at: buffer.readerIndex + Frame.lengthFieldSize, as: UInt8.self) else {
            return nil
        }
        guard let type = FrameType(rawValue: rawType) else {
            throw WireProtocolError(.unknownFrameType, "unknown frame type 0x\(String(rawType, radix: 16))")
        }
        let total = Frame.lengthFieldSize + Int(length)
        guard buffer.readableBytes >= total else { return nil }
        buffer.moveReaderIndex(forwardBy: Frame.headerSize)
        // Cannot fail: readableBytes was checked above.
        guard let body = buffer.readSlice(length: Int(length) - 1) else { return nil }
        return Frame(type: type, body: body)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        // A truncated frame at EOF is dropped with the connection; complete frames are still delivered.
        try decode(buffer: &buffer)
    }
}
