import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway certificate authority for `almanac dev`, `almanac certs` and tests: a P-256 CA and
/// node certificates it signs (valid for loopback: DNS `localhost`, IP 127.0.0.1 and ::1, plus any
/// hosts given), written as PEM files.
/// Not for production: the CA key sits next to the certificates (docs/security.md).
public enum DevCertificates {
    /// The files of a generated set: `ca.pem`, `ca-key.pem`, `node<i>.pem`, `node<i>-key.pem`.
    public struct Layout: Sendable {
        public var directory: String
        public var certificateAuthority: String { "\(directory)/ca.pem" }
        public var certificateAuthorityKey: String { "\(directory)/ca-key.pem" }
        public func node(_ id: UInt64) -> TLSFiles {
            TLSFiles(certificate: "\(directory)/node\(id).pem", privateKey: "\(directory)/node\(id)-key.pem",
                     certificateAuthority: certificateAuthority)
        }
        public init(directory: String) { self.directory = directory }
    }

    /// A CA (its certificate and key).
    public struct Authority: Sendable {
        public let certificate: Certificate
        public let key: P256.Signing.PrivateKey
    }

    /// Makes a new self-signed CA named `name`, valid for `validity` seconds from now.
    public static func makeAuthority(name: String, validity: TimeInterval = 365 * 86_400) throws(SecurityError) -> Authority {
        let key = P256.Signing.PrivateKey()
        do {
            let subject = try DistinguishedName { CommonName(name) }
            let now = Date()
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(validity),
                issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                },
                issuerPrivateKey: .init(key))
            return Authority(certificate: certificate, key: key)
        } catch {
            throw SecurityError("cannot make a CA certificate: \(error)")
        }
    }

    /// The names every certificate made here is valid for: `localhost`, 127.0.0.1 and ::1.
    public static let loopbackDNSNames = ["localhost"]
    public static let loopbackIPAddresses: [[UInt8]] = [[127, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]]

    /// A leaf certificate for `name` signed by `authority`, usable as TLS server and client
    /// (`serverAuth`, `clientAuth`), for the given DNS names and IP addresses.
    public static func issue(
        name: String, authority: Authority, dnsNames: [String] = loopbackDNSNames,
        ipAddresses: [[UInt8]] = loopbackIPAddresses,
        validity: TimeInterval = 365 * 86_400
    ) throws(SecurityError) -> (certificate: Certificate, key: P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        do {
            let now = Date()
            var names: [GeneralName] = dnsNames.map { .dnsName($0) }
            names += ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) }
            let usages = try ExtendedKeyUsage([.serverAuth, .clientAuth])
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(validity),
                issuer: authority.certificate.subject, subject: try DistinguishedName { CommonName(name) },
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    usages
                    SubjectAlternativeNames(names)
                },
                issuerPrivateKey: .init(authority.key))
            return (certificate, key)
        } catch {
            throw SecurityError("cannot issue a certificate for \(name): \(error)")
        }
    }

    /// Writes a CA named `clusterName` and one certificate per node id into `directory` (created if
    /// needed; existing files are replaced). Keys are written with mode 0600.
    /// `hosts` adds names to a node's certificate besides loopback: an IPv4 or IPv6 address becomes
    /// an IP subject alternative name, anything else a DNS name (see ``CertificateHost``).
    @discardableResult
    public static func generate(into directory: String, clusterName: String, nodes: [UInt64],
                                hosts: [UInt64: [CertificateHost]] = [:]) throws(SecurityError) -> Layout {
        let layout = Layout(directory: directory)
        let authority = try makeAuthority(name: "\(clusterName) dev CA")
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SecurityError("cannot create \(directory): \(error)")
        }
        try write(certificate: authority.certificate, to: layout.certificateAuthority)
        try write(key: authority.key, to: layout.certificateAuthorityKey)
        for id in nodes {
            let extra = hosts[id] ?? []
            let (certificate, key) = try issue(
                name: "\(clusterName) node \(id)", authority: authority,
                dnsNames: loopbackDNSNames + extra.compactMap(\.dnsName),
                ipAddresses: loopbackIPAddresses + extra.compactMap(\.ipAddress))
            let files = layout.node(id)
            try write(certificate: certificate, to: files.certificate)
            try write(key: key, to: files.privateKey)
        }
        return layout
    }

    public static func write(certificate: Certificate, to path: String) throws(SecurityError) {
        let pem: String
        do {
            pem = try certificate.serializeAsPEM().pemString
        } catch {
            throw SecurityError("cannot encode a certificate: \(error)")
        }
        try writeFile(pem + "\n", to: path, mode: 0o644)
    }

    public static func write(key: P256.Signing.PrivateKey, to path: String) throws(SecurityError) {
        try writeFile(key.pemRepresentation + "\n", to: path, mode: 0o600)
    }

    static func writeFile(_ text: String, to path: String, mode: Int) throws(SecurityError) {
        do {
            try? FileManager.default.removeItem(atPath: path)
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
                throw SecurityError("cannot write \(path)")
            }
        } catch let error as SecurityError {
            throw error
        } catch {
            throw SecurityError("cannot write \(path): \(error)")
        }
    }
}
