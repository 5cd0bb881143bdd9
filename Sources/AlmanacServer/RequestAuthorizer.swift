import AlmanacNode
import AlmanacMetadata
import AlmanacSecurity
import AlmanacWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// What one request needs from its token (pure; docs/security.md "Authorization").
public enum AccessRequirement: Sendable, Hashable {
    /// Any valid token: sessions, status, the shard map, close (a handle of the caller's session).
    case authenticated
    /// The cluster-internal right: shard commands of the cross-shard transaction protocol.
    case admin
    /// The entry `name` of directory `parent`: allowed when the entry's path is under a granted
    /// prefix. `traverse` (lookups) also allows the entries on the way down to a granted prefix.
    case entry(AccessRight, parent: UInt64, name: String, traverse: Bool)
    /// An inode by id: a directory is allowed when it is under a granted prefix; anything else (a
    /// file or symlink has no parent pointer and possibly several names) only with a grant on "/".
    /// `traverse` (getattr) also allows the directories on the way down to a granted prefix.
    case inode(AccessRight, UInt64, traverse: Bool)

    /// Everything `request` needs (rename and link need both of their sides).
    public static func of(_ request: Almanac_Api_V1_Request) -> [AccessRequirement] {
        guard let operation = request.operation else { return [.authenticated] }
        switch operation {
        case .mkdir(let m): return [.entry(.write, parent: m.parent, name: m.name, traverse: false)]
        case .create(let c): return [.entry(.write, parent: c.parent, name: c.name, traverse: false)]
        case .lookup(let l): return [.entry(.read, parent: l.parent, name: l.name, traverse: true)]
        case .getattr(let g): return [.inode(.read, g.inode, traverse: true)]
        case .setattr(let s): return [.inode(.write, s.inode, traverse: false)]
        case .rename(let r):
            return [.entry(.write, parent: r.parent, name: r.name, traverse: false),
                    .entry(.write, parent: r.newParent, name: r.newName, traverse: false)]
        case .unlink(let u): return [.entry(.write, parent: u.parent, name: u.name, traverse: false)]
        case .rmdir(let r): return [.entry(.write, parent: r.parent, name: r.name, traverse: false)]
        case .readdir(let r): return [.inode(.read, r.inode, traverse: false)]
        case .open(let o):
            let right: AccessRight = o.flags & ~UInt32(Almanac_Api_V1_OpenFlag.read.rawValue) == 0 ? .read : .write
            return [.entry(right, parent: o.parent, name: o.name, traverse: false)]
        case .link(let l): return [.inode(.read, l.inode, traverse: false), .entry(.write, parent: l.newParent, name: l.newName, traverse: false)]
        case .symlink(let s): return [.entry(.write, parent: s.parent, name: s.name, traverse: false)]
        case .readlink(let r): return [.inode(.read, r.inode, traverse: false)]
        case .shardCommand, .replicaAdmin: return [.admin]
        // Placement calls: reading a key's forecast, plan or location needs read access to it;
        // moving replicas or segments is the operators' (admin).
        case .placement(let placement):
            switch placement.call {
            case .predictAccessPattern(let call)?: return [.inode(.read, call.inode, traverse: true)]
            case .planMigration(let call)?: return [.inode(.read, call.inode, traverse: true)]
            case .getShardLocation(let call)?: return [.inode(.read, call.inode, traverse: true)]
            case .executeMigration?: return [.admin]
            case .triggerResharding(let call)?: return call.dryRun ? [.authenticated] : [.admin]
            case nil: return [.authenticated]
            }
        // The system group's register (the embedded shard map): any authenticated client may read
        // and watch the map; changing it is the nodes' and operators' (admin).
        case .systemStore(let store):
            if case .compareAndSwap? = store.call { return [.admin] }
            return [.authenticated]
        case .close, .clusterStatus, .getShardMap, .openSession, .closeSession, .keepAlive: return [.authenticated]
        }
    }
}

/// Reads the namespace for authorization (linearizable, from the shards' leaders): a directory's
/// parent, and a directory entry.
public protocol NamespaceProbe: Sendable {
    /// The parent of directory `inode` (the root is its own); nil when `inode` is not a directory
    /// or does not exist.
    func parent(of inode: UInt64) async throws(APIError) -> UInt64?
    /// The inode the entry `name` of `directory` names; nil when there is none.
    func entry(_ directory: UInt64, _ name: String) async throws(APIError) -> UInt64?
}

/// Checks each request's token and its paths before the request executes (docs/security.md).
///
/// Tokens are verified once and remembered (until they expire). Prefixes are resolved to directory
/// inodes, and directories' parents are read, through a ``NamespaceProbe``; both are cached for
/// ``cacheLifetime``, so a rename that moves a directory out of a granted prefix takes at most
/// that long to take effect on a node that checked it recently.
public final class RequestAuthorizer: Sendable {
    public let tokens: TokenAuthority
    public let probe: any NamespaceProbe
    public let cacheLifetime: TimeAmount
    private let grants = NIOLockedValueBox<[String: AccessGrant]>([:])
    private let parents = NIOLockedValueBox<[UInt64: (parent: UInt64?, at: NIODeadline)]>([:])
    private let chains = NIOLockedValueBox<[String: (chain: [UInt64?], at: NIODeadline)]>([:])
    static let root: UInt64 = 1
    static let maxDepth = 1024
    static let maxCached = 65_536

    public init(tokens: TokenAuthority, probe: any NamespaceProbe, cacheLifetime: TimeAmount = .seconds(1)) {
        self.tokens = tokens
        self.probe = probe
        self.cacheLifetime = cacheLifetime
    }

    /// Calls `completion` once with nil (allowed) or the refusal: at once when the token alone
    /// decides (no token, a bad one, an admin or "/" grant), otherwise after reading the namespace.
    public func authorize(_ request: Almanac_Api_V1_Request, completion: @escaping @Sendable (APIError?) -> Void) {
        let grant: AccessGrant
        switch grantOf(request.authToken) {
        case .failure(let error): return completion(error)
        case .success(let value): grant = value
        }
        let requirements = AccessRequirement.of(request)
        var pending: [AccessRequirement] = []
        for requirement in requirements {
            switch decideWithoutReading(requirement, grant: grant) {
            case .some(nil): continue
            case .some(let refusal?): return completion(refusal)
            case .none: pending.append(requirement)
            }
        }
        guard !pending.isEmpty else { return completion(nil) }
        Task {
            for requirement in pending {
                if let refusal = await self.decide(requirement, grant: grant) { return completion(refusal) }
            }
            completion(nil)
        }
    }

    /// The verified grant of `token` (cached until it expires).
    func grantOf(_ token: String) -> Result<AccessGrant, APIError> {
        guard !token.isEmpty else {
            return .failure(APIError(.unauthenticated, "this cluster requires an access token (almanac ctl token issue; docs/security.md)"))
        }
        let now = Date()
        if let cached = grants.withLockedValue({ $0[token] }) {
            guard cached.expires > now else { return .failure(APIError(.unauthenticated, "token expired at \(cached.expires)")) }
            return .success(cached)
        }
        do throws(TokenError) {
            let grant = try tokens.verify(token, now: now)
            grants.withLockedValue {
                if $0.count >= Self.maxCached { $0.removeAll(keepingCapacity: true) }
                $0[token] = grant
            }
            return .success(grant)
        } catch {
            return .failure(APIError(.unauthenticated, error.message))
        }
    }

    /// nil: the namespace must be read; .some(nil): allowed; .some(refusal): refused.
    func decideWithoutReading(_ requirement: AccessRequirement, grant: AccessGrant) -> APIError?? {
        switch requirement {
        case .authenticated: return .some(nil)
        case .admin:
            return grant.admin ? .some(nil) : .some(APIError(.permissionDenied, "shard commands are for the cluster's nodes only"))
        case .entry(let right, _, _, _), .inode(let right, _, _):
            let prefixes = grant.prefixes(for: right)
            if prefixes.contains("/") { return .some(nil) }
            if prefixes.isEmpty { return .some(refusal(right, grant: grant, what: "any path")) }
            return .none
        }
    }

    func decide(_ requirement: AccessRequirement, grant: AccessGrant) async -> APIError? {
        do throws(APIError) {
            switch requirement {
            case .authenticated, .admin:
                return decideWithoutReading(requirement, grant: grant) ?? nil
            case .entry(let right, let parent, let name, let traverse):
                for prefix in grant.prefixes(for: right) {
                    let components = prefix.split(separator: "/").map(String.init)
                    let chain = try await resolve(prefix, components: components)
                    if let top = chain.last ?? nil, try await isWithin(parent, top) { return nil }
                    for (depth, inode) in chain.dropLast().enumerated() where inode == parent && components[depth] == name {
                        // The prefix itself (mkdir /a with a grant on /a), or a lookup on the way to it.
                        if depth == components.count - 1 || traverse { return nil }
                    }
                }
                return refusal(right, grant: grant, what: "entry \"\(name)\" of directory \(parent)")
            case .inode(let right, let inode, let traverse):
                guard try await parent(of: inode) != nil || inode == Self.root else {
                    return refusal(right, grant: grant, what: "inode \(inode) (by id: files need a grant on /)")
                }
                for prefix in grant.prefixes(for: right) {
                    let chain = try await resolve(prefix, components: prefix.split(separator: "/").map(String.init))
                    if let top = chain.last ?? nil, try await isWithin(inode, top) { return nil }
                    if traverse && chain.contains(inode) { return nil }  // getattr on the way down
                }
                return refusal(right, grant: grant, what: "directory \(inode)")
            }
        } catch {
            return APIError(.unavailable, "cannot check access now: \(error.message)")
        }
    }

    func refusal(_ right: AccessRight, grant: AccessGrant, what: String) -> APIError {
        let prefixes = grant.prefixes(for: right)
        return APIError(.permissionDenied, "token of \"\(grant.subject)\" grants \(right.rawValue) on "
            + (prefixes.isEmpty ? "nothing" : prefixes.joined(separator: ", ")) + ", not on \(what)")
    }

    /// Whether directory `inode` is `ancestor` or below it.
    func isWithin(_ inode: UInt64, _ ancestor: UInt64) async throws(APIError) -> Bool {
        var current = inode
        for _ in 0..<Self.maxDepth {
            if current == ancestor { return true }
            if current == Self.root { return false }
            guard let up = try await parent(of: current) else { return false }
            current = up
        }
        return false
    }

    /// The inodes of "/" and of each component of `prefix` (nil from the first missing one on).
    func resolve(_ prefix: String, components: [String]) async throws(APIError) -> [UInt64?] {
        let now = NIODeadline.now()
        if let cached = chains.withLockedValue({ $0[prefix] }), now - cached.at < cacheLifetime { return cached.chain }
        var chain: [UInt64?] = [Self.root]
        var current: UInt64? = Self.root
        for name in components {
            if let directory = current { current = try await probe.entry(directory, name) }
            chain.append(current)
        }
        chains.withLockedValue {
            if $0.count >= Self.maxCached { $0.removeAll(keepingCapacity: true) }
            $0[prefix] = (chain, now)
        }
        return chain
    }

    /// The parent of directory `inode` (cached), nil when it is not a directory.
    func parent(of inode: UInt64) async throws(APIError) -> UInt64? {
        let now = NIODeadline.now()
        if let cached = parents.withLockedValue({ $0[inode] }), now - cached.at < cacheLifetime { return cached.parent }
        let parent = try await probe.parent(of: inode)
        parents.withLockedValue {
            if $0.count >= Self.maxCached { $0.removeAll(keepingCapacity: true) }
            $0[inode] = (parent, now)
        }
        return parent
    }
}
