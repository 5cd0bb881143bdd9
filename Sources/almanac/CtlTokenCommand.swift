import AlmanacSecurity
import ArgumentParser
import Foundation

/// `almanac ctl token issue`: signs an access token with the cluster's token key (docs/security.md).
struct CtlToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Access tokens for clusters that check them.", subcommands: [CtlTokenIssue.self])
}

struct CtlTokenIssue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Print a signed, expiring token granting read/write on path prefixes.",
        discussion: """
            Example: almanac ctl token issue --write /projects/a --read /shared --ttl 8h
            A write grant includes reading. The key is the file given to `serve --token-key` (`almanac dev`
            writes DATA/tls/token-key and prints it). Exit codes: 0 ok, 1 cannot sign, 2 usage.
            """)

    @Option(help: "Token signing key file (default: $ALMANAC_TOKEN_KEY).")
    var key: String?

    @Option(help: "Who the token is for (its subject).")
    var subject: String = "ctl"

    @Option(help: "A readable path prefix (repeatable).")
    var read: [String] = []

    @Option(help: "A writable (and readable) path prefix (repeatable).")
    var write: [String] = []

    @Flag(help: "Grant the cluster-internal right (shard commands, map updates: what `ctl reshard move|split|merge|resume` need), every path included.")
    var admin = false

    @Option(help: "Lifetime: a number with s, m, h or d (e.g. 90s, 15m, 1h, 7d).")
    var ttl: String = "1h"

    static func seconds(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let value = Double(text.dropLast()), value > 0, value.isFinite else { return nil }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3600
        case "d": return value * 86_400
        default: return nil
        }
    }

    var keyFile: String? { key ?? ProcessInfo.processInfo.environment["ALMANAC_TOKEN_KEY"] }

    func validate() throws {
        guard keyFile != nil else { throw ValidationError("no key: pass --key FILE or set ALMANAC_TOKEN_KEY") }
        guard let lifetime = Self.seconds(ttl), lifetime <= 10 * 365 * 86_400 else {
            throw ValidationError("--ttl: a positive number with s, m, h or d, at most 10 years (got \"\(ttl)\")")
        }
        _ = lifetime
        guard !read.isEmpty || !write.isEmpty || admin else { throw ValidationError("grant something: --read PREFIX, --write PREFIX and/or --admin") }
        for prefix in read + write where AccessGrant.normalize(prefix) == nil {
            throw ValidationError("bad prefix \"\(prefix)\": an absolute path without . or .. components")
        }
    }

    func run() async throws {
        guard let keyFile, let lifetime = Self.seconds(ttl) else { throw ValidationError("bad arguments") }
        do {
            let authority = try await TokenAuthority.load(keyFile: keyFile)
            let grant = AccessGrant(subject: subject, read: read.compactMap(AccessGrant.normalize),
                                    write: write.compactMap(AccessGrant.normalize), admin: admin, expires: Date().addingTimeInterval(lifetime))
            print(try await authority.issue(grant))
        } catch {
            FileHandle.standardError.write(Data("token issue: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
