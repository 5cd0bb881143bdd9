import NIOCore

/// A typed message that can be read from a ``Frame``. Throws a ``WireProtocolError`` for frames that are
/// not allowed on the connection or whose body is malformed.
public protocol FrameDecodable: Sendable {
    init(frame: Frame) throws(WireProtocolError)
}

/// A typed message that can be written as a ``Frame``.
public protocol FrameEncodable: Sendable {
    func makeFrame() throws -> Frame
}

extension Almanac_Api_V1_Error {
    /// The error a protocol violation is reported with: `TOO_LARGE` for oversized frames, otherwise
    /// `PROTOCOL_ERROR`.
    public init(_ error: WireProtocolError) {
        self.init()
        code = error.kind == .frameTooLarge ? .tooLarge : .protocolError
        message = error.message
    }
}
