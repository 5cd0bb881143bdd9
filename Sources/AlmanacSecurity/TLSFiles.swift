import NIOSSL

/// A security set-up problem (unreadable or malformed PEM, a missing file): a message for the operator.
public struct SecurityError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The PEM files of one party: its certificate (chain), its private key and the cluster CA that
/// signs every node (and that peers and clients trust). See docs/security.md.
public struct TLSFiles: Sendable, Hashable {
    public var certificate: String
    public var privateKey: String
    public var certificateAuthority: String

    public init(certificate: String, privateKey: String, certificateAuthority: String) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.certificateAuthority = certificateAuthority
    }

    /// The client API listener: presents this node's certificate; clients are not asked for one
    /// (they authenticate with tokens).
    public func makeAPIServerContext() throws(SecurityError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try loadChain(), privateKey: .privateKey(try loadKey()))
        configuration.minimumTLSVersion = .tlsv12
        return try Self.makeContext(configuration)
    }

    /// Peer traffic, both directions (mutual TLS): presents this node's certificate and accepts
    /// only peers whose certificate the cluster CA signed. Host names are not checked (members are
    /// named by the cluster configuration; the CA signature is the membership credential).
    public func makePeerContext() throws(SecurityError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: try loadChain(), privateKey: .privateKey(try loadKey()),
            trustRoots: .certificates(try Self.loadCertificates(certificateAuthority, what: "CA certificate")))
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .noHostnameVerification
        return try Self.makeContext(configuration)
    }

    private func loadChain() throws(SecurityError) -> [NIOSSLCertificateSource] {
        try Self.loadCertificates(certificate, what: "certificate").map { .certificate($0) }
    }

    private func loadKey() throws(SecurityError) -> NIOSSLPrivateKey {
        do {
            return try NIOSSLPrivateKey(file: privateKey, format: .pem)
        } catch {
            throw SecurityError("cannot load the private key \(privateKey): \(error)")
        }
    }

    static func loadCertificates(_ path: String, what: String) throws(SecurityError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw SecurityError("cannot load the \(what) \(path): \(error)")
        }
        guard !certificates.isEmpty else { throw SecurityError("the \(what) \(path) holds no PEM certificate") }
        return certificates
    }

    static func makeContext(_ configuration: TLSConfiguration) throws(SecurityError) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw SecurityError("bad TLS configuration: \(error)")
        }
    }
}
