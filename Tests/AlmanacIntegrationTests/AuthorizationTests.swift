import AlmanacTestSupport
import AlmanacClient
import AlmanacSecurity
import AlmanacWire
import Foundation
import Testing

/// Token authentication and path-prefix authorization through the real protocol: three
/// `almanac serve --token-key` processes, clients with and without tokens.
@Suite("Authorization", .serialized, .timeLimit(.minutes(2)))
struct AuthorizationTests {
    func client(_ cluster: TestCluster, token: String?) -> AlmanacClient {
        var configuration = AlmanacClientConfiguration(endpoints: cluster.endpoints, attemptTimeout: .seconds(3), operationTimeout: .seconds(20))
        configuration.authToken = token
        return AlmanacClient(configuration: configuration)
    }

    /// The protocol error code of `body`'s failure (nil when it succeeded).
    func code(_ body: () async throws -> Void) async -> Almanac_Api_V1_ErrorCode? {
        do {
            try await body()
            return nil
        } catch let error as AlmanacClientError {
            return error.code
        } catch {
            return .internal
        }
    }

    @Test("missing, forged and expired tokens are UNAUTHENTICATED; paths outside the grant are PERMISSION_DENIED")
    func tokensAndPrefixes() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-it-auth-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: keys) }
        try TokenAuthority.generateKeyFile(at: "\(keys)/key")
        try TokenAuthority.generateKeyFile(at: "\(keys)/other-key")
        let authority = try await TokenAuthority.load(keyFile: "\(keys)/key")
        let forger = try await TokenAuthority.load(keyFile: "\(keys)/other-key")
        let hour = Date().addingTimeInterval(3600)
        let cluster = try await TestCluster.start(name: "auth", shards: 4, extraArguments: ["--token-key", "\(keys)/key"])
        defer { cluster.shutdown() }

        // Set-up with a token for everything.
        let admin = client(cluster, token: try await authority.issue(AccessGrant(subject: "admin", read: [], write: ["/"], expires: hour)))
        let a = try await admin.mkdir(parent: rootInode, name: "a")
        let sub = try await admin.mkdir(parent: a.inode, name: "sub")
        let b = try await admin.mkdir(parent: rootInode, name: "b")
        let secret = try await admin.create(parent: b.inode, name: "secret")
        let own = try await admin.create(parent: sub.inode, name: "own")

        // Unauthenticated: no token, a token signed with another key, an expired token, garbage.
        let tokens: [String?] = [
            nil,
            try await forger.issue(AccessGrant(subject: "mallory", read: [], write: ["/"], expires: hour)),
            try await authority.issue(AccessGrant(subject: "late", read: [], write: ["/"], expires: Date().addingTimeInterval(-60))),
            "not.a.token",
        ]
        for token in tokens {
            let refused = client(cluster, token: token)
            #expect(await code { _ = try await refused.lookup(parent: rootInode, name: "a") } == .unauthenticated, "\(token ?? "no token")")
            #expect(await code { _ = try await refused.mkdir(parent: rootInode, name: "c") } == .unauthenticated, "\(token ?? "no token")")
            await refused.shutdown()
        }
        #expect(await code { _ = try await admin.lookup(parent: rootInode, name: "c") } == .enoent, "an unauthenticated mkdir happened")

        // A token that writes /a (and so reads it) and reads /b/secret's directory only by name.
        let user = client(cluster, token: try await authority.issue(AccessGrant(subject: "user", read: [], write: ["/a"], expires: hour)))
        #expect(try await user.lookup(parent: rootInode, name: "a").inode == a.inode)  // on the way to /a
        let made = try await user.create(parent: sub.inode, name: "f")                // /a/sub/f: sub's ancestry reaches /a
        _ = try await user.mkdir(parent: a.inode, name: "new")
        #expect(try await user.readdir(a.inode).collect().map(\.name).sorted() == ["new", "sub"])
        #expect(await code { _ = try await user.lookup(parent: rootInode, name: "b") } == .permissionDenied)
        #expect(await code { _ = try await user.create(parent: b.inode, name: "x") } == .permissionDenied)
        #expect(await code { _ = try await user.lookup(parent: b.inode, name: "secret") } == .permissionDenied)
        #expect(await code { _ = try await user.readdir(rootInode).collect() } == .permissionDenied)
        #expect(await code { _ = try await user.readdir(b.inode).collect() } == .permissionDenied)
        #expect(await code { try await user.unlink(parent: b.inode, name: "secret") } == .permissionDenied)
        // Rename needs both sides: out of /a and into /a are refused, and nothing moved.
        #expect(await code { try await user.rename(parent: sub.inode, name: "f", newParent: b.inode, newName: "f") } == .permissionDenied)
        #expect(await code { try await user.rename(parent: b.inode, name: "secret", newParent: a.inode, newName: "s") } == .permissionDenied)
        #expect(try await admin.lookup(parent: sub.inode, name: "f").inode == made.inode)
        #expect(try await admin.lookup(parent: b.inode, name: "secret").inode == secret.inode)
        try await user.rename(parent: sub.inode, name: "f", newParent: a.inode, newName: "g")  // within /a (maybe cross-shard)
        #expect(try await admin.lookup(parent: a.inode, name: "g").inode == made.inode)
        // By inode id: directories under /a are fine; files need a grant on "/" (docs/security.md).
        #expect(try await user.getattr(sub.inode).inode == sub.inode)
        #expect(await code { _ = try await user.getattr(own.inode) } == .permissionDenied)
        #expect(await code { _ = try await user.getattr(b.inode) } == .permissionDenied)
        await user.shutdown()

        // Read-only on /a: reads pass, writes are refused.
        let reader = client(cluster, token: try await authority.issue(AccessGrant(subject: "reader", read: ["/a"], write: [], expires: hour)))
        #expect(try await reader.lookup(parent: a.inode, name: "sub").inode == sub.inode)
        #expect(await code { _ = try await reader.create(parent: a.inode, name: "nope") } == .permissionDenied)
        #expect(await code { _ = try await reader.mkdir(parent: sub.inode, name: "nope") } == .permissionDenied)
        await reader.shutdown()

        // `almanac ctl token issue` signs the same kind of token.
        let issued = try Self.runCtl(["token", "issue", "--key", "\(keys)/key", "--write", "/b", "--ttl", "10m"], binary: cluster.binary)
        #expect(issued.status == 0, "\(issued.output)")
        let ctlUser = client(cluster, token: issued.output.trimmingCharacters(in: .whitespacesAndNewlines))
        _ = try await ctlUser.create(parent: b.inode, name: "from-ctl")
        #expect(await code { _ = try await ctlUser.create(parent: a.inode, name: "from-ctl") } == .permissionDenied)
        await ctlUser.shutdown()
        await admin.shutdown()
    }

    static func runCtl(_ arguments: [String], binary: String) throws -> (status: Int32, output: String) {
        try AlmanacCommand.run(binary, ["ctl"] + arguments)
    }
}
