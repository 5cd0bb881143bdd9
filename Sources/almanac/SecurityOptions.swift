import AlmanacClient
import AlmanacSecurity
import ArgumentParser
import Foundation
import NIOSSL

/// `serve`'s TLS flags: the node's certificate, key and the cluster CA, or an explicit `--insecure`
/// (docs/security.md).
struct ServeSecurityOptions: ParsableArguments {
    @Option(name: .customLong("tls-cert"), help: "PEM certificate of this node (client API and peer traffic).")
    var certificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.")
    var privateKey: String?

    @Option(name: .customLong("tls-ca"), help: "PEM certificate of the cluster CA: peers must present a certificate it signed.")
    var certificateAuthority: String?

    @Flag(help: "Serve clients and peers in plaintext, without TLS (tests and trusted networks only).")
    var insecure = false

    @Option(name: .customLong("token-key"),
            help: "Token signing key file (base64): every request must carry a token it signed (off when absent).")
    var tokenKey: String?

    func validate() throws {
        let given = [certificate, privateKey, certificateAuthority].compactMap { $0 }
        if insecure {
            guard given.isEmpty else { throw ValidationError("--insecure cannot be combined with --tls-cert/--tls-key/--tls-ca") }
            return
        }
        guard given.count == 3 else {
            throw ValidationError("TLS needs --tls-cert, --tls-key and --tls-ca (or pass --insecure for plaintext)")
        }
    }

    /// The TLS files, nil with `--insecure`.
    var files: TLSFiles? {
        guard !insecure, let certificate, let privateKey, let certificateAuthority else { return nil }
        return TLSFiles(certificate: certificate, privateKey: privateKey, certificateAuthority: certificateAuthority)
    }
}

/// The client side (`ctl`, `bench`): TLS when a CA certificate is given by `--ca` or `ALMANAC_CA`,
/// an access token from `--token` or `ALMANAC_TOKEN`.
struct ClientSecurityOptions: ParsableArguments {
    @Option(help: "PEM certificate of the cluster CA to trust: TLS to the nodes (default: $ALMANAC_CA; none: plaintext).")
    var ca: String?

    @Option(help: "Access token for clusters that check tokens (default: $ALMANAC_TOKEN).")
    var token: String?

    /// The token in force, if any.
    var authToken: String? {
        if let token, !token.isEmpty { return token }
        if let env = ProcessInfo.processInfo.environment["ALMANAC_TOKEN"], !env.isEmpty { return env }
        return nil
    }

    /// The CA file in force, if any.
    var certificateAuthority: String? {
        if let ca, !ca.isEmpty { return ca }
        if let env = ProcessInfo.processInfo.environment["ALMANAC_CA"], !env.isEmpty { return env }
        return nil
    }

    func validate() throws {
        if let path = certificateAuthority, !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("cannot read the CA certificate \(path) (--ca or ALMANAC_CA)")
        }
    }

    /// Sets `configuration.tls` from the CA in force.
    func apply(to configuration: inout AlmanacClientConfiguration) throws {
        configuration.authToken = authToken
        guard let path = certificateAuthority else { return }
        do {
            configuration.tls = try AlmanacClientConfiguration.tlsContext(trusting: path)
        } catch {
            throw ValidationError("cannot use the CA certificate \(path): \(error)")
        }
    }
}
