import Foundation

/// A name a node certificate is valid for: an IP address (IPv4 or IPv6, checked against the IP a
/// client dialed) or a DNS name. Parsed from the operator's text with a typed error.
public enum CertificateHost: Sendable, Hashable, CustomStringConvertible {
    case ip([UInt8])
    case dns(String)

    /// Parses `text`: an IPv4 or IPv6 literal, else a DNS name (letters, digits, `-`, `.`, and a
    /// leading `*.` wildcard label), at most 253 characters.
    public init(parsing text: String) throws(SecurityError) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .ip(withUnsafeBytes(of: v4) { Array($0) })
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .ip(withUnsafeBytes(of: v6) { Array($0) })
            return
        }
        var labels = text.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" { labels.removeFirst() }
        let valid = !text.isEmpty && text.utf8.count <= 253 && !labels.isEmpty && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-") }
        }
        guard valid else {
            throw SecurityError("\"\(text)\" is neither an IP address nor a DNS name")
        }
        self = .dns(text.lowercased())
    }

    var ipAddress: [UInt8]? {
        if case .ip(let bytes) = self { return bytes }
        return nil
    }

    var dnsName: String? {
        if case .dns(let name) = self { return name }
        return nil
    }

    public var description: String {
        switch self {
        case .dns(let name): return name
        case .ip(let bytes) where bytes.count == 4: return bytes.map(String.init).joined(separator: ".")
        case .ip(let bytes):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return "?" }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
