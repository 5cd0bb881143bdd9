/// A `host:port` to listen on (`--metrics-listen`). Port 0 picks a free port.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (`[v6]:port` for IPv6 literals).
    public static func parse(_ text: String) throws(ListenAddressError) -> ListenAddress {
        guard let colon = text.lastIndex(of: ":") else { throw .missingPort(text) }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace) else { throw .badHost(text) }
        guard let port = Int(portText), (0...65_535).contains(port) else { throw .badPort(text) }
        return ListenAddress(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why a listen address was rejected.
public enum ListenAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingPort(String)
    case badHost(String)
    case badPort(String)

    public var description: String {
        switch self {
        case .missingPort(let text): "'\(text)' is not host:port (no port)"
        case .badHost(let text): "'\(text)' is not host:port (empty or malformed host)"
        case .badPort(let text): "'\(text)' is not host:port (the port must be a number in 0...65535)"
        }
    }
}
