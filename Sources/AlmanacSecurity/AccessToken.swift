import Crypto
import Foundation
import JWTKit

/// What a token allows (docs/security.md): read and write rights on path prefixes, and the
/// cluster-internal right (`admin`: shard commands between nodes, every path).
public struct AccessGrant: Sendable, Hashable {
    public var subject: String
    /// Path prefixes readable (normalized: absolute, no trailing slash, "/" for everything).
    public var read: [String]
    /// Path prefixes writable; a write right implies the read right on the same prefix.
    public var write: [String]
    public var admin: Bool
    public var expires: Date

    public init(subject: String, read: [String], write: [String], admin: Bool = false, expires: Date) {
        self.subject = subject
        self.read = read
        self.write = write
        self.admin = admin
        self.expires = expires
    }

    /// The prefixes that give `right`.
    public func prefixes(for right: AccessRight) -> [String] {
        if admin { return ["/"] }
        switch right {
        case .read: return read + write
        case .write: return write
        }
    }

    /// Whether `path` (absolute, normalized) is covered by a prefix for `right`: equal to a prefix
    /// or below it (component-wise: "/a" covers "/a/b", not "/ab").
    public func allows(_ right: AccessRight, path: String) -> Bool {
        prefixes(for: right).contains { AccessGrant.covers(prefix: $0, path: path) }
    }

    public static func covers(prefix: String, path: String) -> Bool {
        prefix == "/" || path == prefix || path.hasPrefix(prefix + "/")
    }

    /// "/a//b/" -> "/a/b"; nil for a relative path or one with "." / ".." components.
    public static func normalize(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return nil }
        let parts = path.split(separator: "/").map(String.init)
        guard !parts.contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        return "/" + parts.joined(separator: "/")
    }
}

/// A right on a path.
public enum AccessRight: String, Sendable, Hashable {
    case read, write
}

/// Why a token was refused (the server answers UNAUTHENTICATED with the message).
public struct TokenError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The JWT claims of an Almanac access token.
struct AccessTokenClaims: JWTPayload {
    var sub: SubjectClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var read: [String]
    var write: [String]
    var adm: Bool?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Issues and verifies signed, expiring access tokens (JWT, HS256 with the cluster's signing key).
///
/// Verification is synchronous (jwt-kit's parser and the HMAC algorithm, taken once from its key
/// collection), so the server checks tokens on its event loop without a task hop.
public final class TokenAuthority: Sendable {
    private let keys: JWTKeyCollection
    private let algorithm: any JWTAlgorithm
    private let parser = DefaultJWTParser()

    private init(keys: JWTKeyCollection, algorithm: any JWTAlgorithm) {
        self.keys = keys
        self.algorithm = algorithm
    }

    /// An authority for the signing key `secret` (at least 32 bytes).
    public static func make(secret: [UInt8]) async throws(SecurityError) -> TokenAuthority {
        guard secret.count >= 32 else { throw SecurityError("the token signing key must hold at least 32 bytes (it has \(secret.count))") }
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        do {
            return TokenAuthority(keys: keys, algorithm: try await keys.getKey())
        } catch {
            throw SecurityError("cannot use the token signing key: \(error)")
        }
    }

    /// Loads the signing key file (base64 of the key bytes, as ``generateKeyFile(at:)`` writes).
    public static func load(keyFile path: String) async throws(SecurityError) -> TokenAuthority {
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8),
              let secret = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw SecurityError("cannot read the token signing key \(path) (expected base64 of at least 32 bytes)") }
        return try await make(secret: [UInt8](secret))
    }

    /// Writes a new random 256-bit signing key (base64, mode 0600) to `path`.
    public static func generateKeyFile(at path: String) throws(SecurityError) {
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() }
        try DevCertificates.writeFile(text + "\n", to: path, mode: 0o600)
    }

    /// A token for `grant` (its `expires` is the token's `exp`).
    public func issue(_ grant: AccessGrant, now: Date = Date()) async throws(SecurityError) -> String {
        let claims = AccessTokenClaims(
            sub: SubjectClaim(value: grant.subject), iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: grant.expires),
            read: grant.read, write: grant.write, adm: grant.admin ? true : nil)
        do {
            return try await keys.sign(claims)
        } catch {
            throw SecurityError("cannot sign the token: \(error)")
        }
    }

    /// The grant of a valid token; throws for a malformed, forged (bad signature, other algorithm)
    /// or expired token.
    public func verify(_ token: String, now: Date = Date()) throws(TokenError) -> AccessGrant {
        let bytes = Array(token.utf8)
        let parsed: (header: JWTHeader, payload: AccessTokenClaims, signature: Data)
        let parts: (header: ArraySlice<UInt8>, payload: ArraySlice<UInt8>, signature: ArraySlice<UInt8>)
        do {
            parsed = try parser.parse(bytes, as: AccessTokenClaims.self)
            parts = try parser.getTokenParts(bytes)
        } catch {
            throw TokenError("malformed token")
        }
        guard parsed.header.alg == algorithm.name else { throw TokenError("token signed with \(parsed.header.alg ?? "no algorithm"), expected \(algorithm.name)") }
        let signed = bytes[parts.header.startIndex..<parts.payload.endIndex]
        let valid: Bool
        do {
            valid = try algorithm.verify(parsed.signature, signs: signed)
        } catch {
            valid = false
        }
        guard valid else { throw TokenError("invalid token signature") }
        guard parsed.payload.exp.value > now else { throw TokenError("token expired at \(parsed.payload.exp.value)") }
        let normalize = { (list: [String]) throws(TokenError) -> [String] in
            try list.map { prefix throws(TokenError) in
                guard let normal = AccessGrant.normalize(prefix) else { throw TokenError("bad path prefix \"\(prefix)\" in token") }
                return normal
            }
        }
        return AccessGrant(subject: parsed.payload.sub.value, read: try normalize(parsed.payload.read),
                           write: try normalize(parsed.payload.write), admin: parsed.payload.adm == true,
                           expires: parsed.payload.exp.value)
    }
}
