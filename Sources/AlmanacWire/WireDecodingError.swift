/// A protobuf message that parsed but does not convert to the Swift value type it stands for
/// (for example an enum value this version does not know).
public struct WireDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
