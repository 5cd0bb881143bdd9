import NIOCore

/// Frames a client sends to a server.
public enum APIClientFrame: Sendable, Hashable, FrameDecodable, FrameEncodable {
    case request(Almanac_Api_V1_Request)
    /// The client is about to close the connection because the server violated the protocol.
    case protocolError(Almanac_Api_V1_Error)

    public init(frame: Frame) throws(WireProtocolError) {
        switch frame.type {
        case .apiRequest: self = .request(try .decode(frameBody: frame.body, frameType: frame.type))
        case .protocolError: self = .protocolError(try .decode(frameBody: frame.body, frameType: frame.type))
        default:
            throw WireProtocolError(.unexpectedFrameType, "frame type \(frame.type) is not allowed from a client")
        }
    }

    public func makeFrame() throws -> Frame {
        switch self {
        case .request(let request): return try request.frame(.apiRequest)
        case .protocolError(let error): return try error.frame(.protocolError)
        }
    }
}

/// Frames a server sends to a client.
public enum APIServerFrame: Sendable, Hashable, FrameDecodable, FrameEncodable {
    case response(Almanac_Api_V1_Response)
    /// The server is about to close the connection because the client violated the protocol.
    case protocolError(Almanac_Api_V1_Error)

    public init(frame: Frame) throws(WireProtocolError) {
        switch frame.type {
        case .apiResponse: self = .response(try .decode(frameBody: frame.body, frameType: frame.type))
        case .protocolError: self = .protocolError(try .decode(frameBody: frame.body, frameType: frame.type))
        default:
            throw WireProtocolError(.unexpectedFrameType, "frame type \(frame.type) is not allowed from a server")
        }
    }

    public func makeFrame() throws -> Frame {
        switch self {
        case .response(let response): return try response.frame(.apiResponse)
        case .protocolError(let error): return try error.frame(.protocolError)
        }
    }
}
