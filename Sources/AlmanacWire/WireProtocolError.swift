/// A violation of the framing or message protocol by the remote side. The connection that saw it answers
/// with a protocol-error frame and is closed.
public struct WireProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The length prefix exceeds the receiver's maximum frame size.
        case frameTooLarge
        /// The length prefix is zero (a frame needs at least its type byte).
        case emptyFrame
        /// The type byte names no known frame type.
        case unknownFrameType
        /// A known frame type that is not allowed on this connection or in this state.
        case unexpectedFrameType
        /// The body does not parse as the protobuf message its type announces, or carries invalid values.
        case malformedBody
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind): \(message)" }
}
