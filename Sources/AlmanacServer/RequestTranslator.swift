import AlmanacNode
import AlmanacMetadata
import AlmanacWire
import Foundation

/// Pure translation between the client protocol (api.proto) and the namespace model.
///
/// Routing rule: a request goes to the shard that the shard map assigns the segment of the inode id it
/// names first (an id's high 16 bits are its segment) —
/// the parent directory for name-based operations (mkdir, create, lookup, unlink, rmdir, rename's
/// source parent, symlink, open), the target inode for inode-based ones (getattr, setattr, readdir,
/// readlink), `new_parent` for link — and to the session's shard for close, keep_alive and
/// close_session. Writes must carry a session of that shard. The owning shard's state machine checks
/// the segment again (fencing), so a stale map can only cause a refusal, never a misplaced write.
public struct RequestTranslator: Sendable {
    /// The shard map requests are routed with (a single shard owning every segment by default),
    /// unless ``live`` is set.
    public var map: ShardMap
    /// A map kept current by the shard map service; when set, it is the one requests are routed with.
    public var live: LiveShardMap?
    /// Each node's client endpoint, for the map handed to clients.
    public var clientAddresses: [NodeID: String]
    /// The shard map service's backend, reported with the map.
    public var mapBackend: String
    /// Page size used when a readdir request says `limit = 0`.
    public var defaultReaddirLimit: Int
    /// Larger readdir limits are clamped to this (the state machine's maximum page).
    public var maxReaddirLimit: Int

    public init(defaultReaddirLimit: Int = 512, maxReaddirLimit: Int = MetadataLimits().maxReaddirPage,
                map: ShardMap = RequestTranslator.singleShardMap, clientAddresses: [NodeID: String] = [:],
                mapBackend: String = "static", live: LiveShardMap? = nil) {
        self.map = map
        self.live = live
        self.clientAddresses = clientAddresses
        self.mapBackend = mapBackend
        self.maxReaddirLimit = max(1, maxReaddirLimit)
        self.defaultReaddirLimit = min(max(1, defaultReaddirLimit), self.maxReaddirLimit)
    }

    // MARK: - Request -> RoutedRequest

    /// Translates a request, or explains with a typed error why it cannot be served.
    public func route(_ request: Almanac_Api_V1_Request) -> Result<RoutedRequest, APIError> {
        do throws(APIError) {
            return .success(try routeOrThrow(request))
        } catch {
            return .failure(error)
        }
    }

    private func routeOrThrow(_ request: Almanac_Api_V1_Request) throws(APIError) -> RoutedRequest {
        guard let operation = request.operation else {
            throw APIError(.unsupported, "request \(request.requestID) carries no operation this server knows")
        }
        switch operation {
        case .mkdir(let m):
            let parent = InodeID(m.parent)
            return try write(request, shard: try shard(of: parent), .mkdir(parent: parent, name: ByteString(m.name), mode: m.mode, uid: m.uid, gid: m.gid))
        case .create(let c):
            let parent = InodeID(c.parent)
            let op = MetadataOperation.create(parent: parent, name: ByteString(c.name), mode: c.mode, uid: c.uid, gid: c.gid)
            let (session, durability, target) = try writeKey(request, shard: try shard(of: parent))
            return c.openExisting
                ? .createOrOpenExisting(shard: target, operation: op, session: session, durability: durability)
                : .write(shard: target, operation: op, session: session, durability: durability)
        case .lookup(let l):
            let parent = InodeID(l.parent)
            return try read(request, shard: try shard(of: parent), .lookup(parent: parent, name: ByteString(l.name)))
        case .getattr(let g):
            let id = InodeID(g.inode)
            return try read(request, shard: try shard(of: id), .getattr(id))
        case .setattr(let s):
            let id = InodeID(s.inode)
            return try write(request, shard: try shard(of: id), .setattr(id: id, changes: try Self.changes(s)))
        case .rename(let r):
            if r.flags & ~UInt32(1) != 0 { throw APIError(.einval, "unknown rename flags 0x\(String(r.flags, radix: 16))") }
            if r.flags & 1 != 0 { throw APIError(.unsupported, "RENAME_FLAG_NOREPLACE is not supported yet") }
            let parent = InodeID(r.parent)
            return try write(request, shard: try shard(of: parent), .rename(
                fromParent: parent, fromName: ByteString(r.name), toParent: InodeID(r.newParent), toName: ByteString(r.newName)))
        case .unlink(let u):
            let parent = InodeID(u.parent)
            return try write(request, shard: try shard(of: parent), .unlink(parent: parent, name: ByteString(u.name)))
        case .rmdir(let r):
            let parent = InodeID(r.parent)
            return try write(request, shard: try shard(of: parent), .rmdir(parent: parent, name: ByteString(r.name)))
        case .readdir(let r):
            let id = InodeID(r.inode)
            var cursor: ReaddirCursor?
            if !r.cursor.isEmpty {
                guard let name = String(bytes: r.cursor, encoding: .utf8) else {
                    throw APIError(.einval, "readdir cursor is not a cursor this server issued")
                }
                cursor = ReaddirCursor(after: ByteString(name))
            }
            let limit = r.limit == 0 ? defaultReaddirLimit : min(Int(r.limit), maxReaddirLimit)
            return try read(request, shard: try shard(of: id), .readdir(id, after: cursor, limit: limit, withAttributes: r.withAttributes))
        case .open(let o):
            if o.parent == 0 && o.inode != 0 {
                throw APIError(.unsupported, "open by inode id is not supported; send parent and name")
            }
            let parent = InodeID(o.parent)
            return try write(request, shard: try shard(of: parent), .open(
                parent: parent, name: ByteString(o.name), flags: try Self.openFlags(o.flags), mode: o.mode, uid: o.uid, gid: o.gid))
        case .close(let c):
            let shard = APISessionID.decode(request.sessionID).shard
            return try write(request, shard: shard, .close(handle: c.handle))
        case .link(let l):
            let parent = InodeID(l.newParent)
            return try write(request, shard: try shard(of: parent), .link(target: InodeID(l.inode), parent: parent, name: ByteString(l.newName)))
        case .symlink(let s):
            let parent = InodeID(s.parent)
            return try write(request, shard: try shard(of: parent), .symlink(
                parent: parent, name: ByteString(s.name), target: ByteString(s.target), uid: s.uid, gid: s.gid))
        case .readlink(let r):
            let id = InodeID(r.inode)
            return try read(request, shard: try shard(of: id), .readlink(id))
        case .clusterStatus(let status):
            return .clusterStatus(stateDigests: status.stateDigests)
        case .placement(let placement):
            guard placement.call != nil else {
                throw APIError(.einval, "placement needs a call: predict_access_pattern, plan_migration, execute_migration, get_shard_location or trigger_resharding")
            }
            return .placement(placement)
        case .getShardMap:
            return .shardMap
        case .shardCommand(let command):
            guard let shard = ShardID(exactly: command.shardID) else {
                throw APIError(.einval, "shard id \(command.shardID) is out of range (16 bits)")
            }
            let operation: MetadataOperation
            do throws(CodecError) {
                operation = try MetadataOperation(decodingOperation: Array(command.operation), maxBytes: MetadataLimits.maxHandoffEntryBytes)
            } catch {
                throw APIError(.einval, "shard command: \(error)")
            }
            // Only hand-off pages may exceed the request limit (docs/migration.md).
            if command.operation.count > MetadataLimits().maxRequestBytes && !operation.isHandoffProtocol {
                throw APIError(.tooLarge, "shard command: \(operation.name) is \(command.operation.count) bytes, over the limit of \(MetadataLimits().maxRequestBytes)")
            }
            guard operation.isTransactionProtocol || operation.isHandoffProtocol else {
                throw APIError(.einval, "shard commands carry only the cross-shard transaction and segment hand-off protocols, not \(operation.name)")
            }
            return .shardCommand(shard: shard, operation: operation)
        case .systemStore(let store):
            switch store.call {
            case .load?: return .systemStore(key: store.key, call: .load)
            case .compareAndSwap(let cas)?:
                return .systemStore(key: store.key, call: .compareAndSwap(expectedRevision: cas.expectedRevision, value: Array(cas.value)))
            case .watch(let watch)?:
                return .systemStore(key: store.key, call: .watch(afterRevision: watch.afterRevision, waitMilliseconds: watch.waitMs))
            case nil: throw APIError(.einval, "system_store needs a call: load, compare_and_swap or watch")
            }
        case .replicaAdmin(let admin):
            guard let shard = ShardID(exactly: admin.shardID) else {
                throw APIError(.einval, "shard id \(admin.shardID) is out of range (16 bits)")
            }
            switch admin.call {
            case .join?: return .replicaAdmin(shard: shard, call: .join)
            case .found(let found)?:
                guard !found.voterNodeIds.isEmpty else { throw APIError(.einval, "found needs the founding voters") }
                return .replicaAdmin(shard: shard, call: .found(voters: found.voterNodeIds))
            case .leave?: return .replicaAdmin(shard: shard, call: .leave)
            case .addLearner(let add)?:
                guard add.nodeID != 0 else { throw APIError(.einval, "add_learner needs a node id") }
                return .replicaAdmin(shard: shard, call: .addLearner(add.nodeID))
            case .promoteLearner(let promote)?:
                guard promote.nodeID != 0, promote.replacingNodeID != 0, promote.nodeID != promote.replacingNodeID else {
                    throw APIError(.einval, "promote_learner needs two different node ids")
                }
                return .replicaAdmin(shard: shard, call: .promoteLearner(promote.nodeID, replacing: promote.replacingNodeID))
            case .removeLearner(let remove)?:
                guard remove.nodeID != 0 else { throw APIError(.einval, "remove_learner needs a node id") }
                return .replicaAdmin(shard: shard, call: .removeLearner(remove.nodeID))
            case .transferLeadership(let transfer)?:
                guard transfer.toNodeID != 0 else { throw APIError(.einval, "transfer_leadership needs a node id") }
                return .replicaAdmin(shard: shard, call: .transferLeadership(to: transfer.toNodeID))
            case .configuration?: return .replicaAdmin(shard: shard, call: .configuration)
            case nil: throw APIError(.einval, "replica_admin needs a call: join, leave, add_learner, promote_learner, remove_learner, transfer_leadership or configuration")
            }
        case .openSession(let o):
            guard let shard = ShardID(exactly: o.shardID) else {
                throw APIError(.einval, "shard id \(o.shardID) is out of range (16 bits)")
            }
            return .openSession(shard: shard)
        case .keepAlive:
            return try write(request, shard: APISessionID.decode(request.sessionID).shard, .keepAlive)
        case .closeSession:
            return try write(request, shard: APISessionID.decode(request.sessionID).shard, .closeSession)
        }
    }

    /// The shard owning the segment of `id` in ``map``.
    /// The map requests are routed with now.
    public var currentMap: ShardMap { live?.current ?? map }

    /// The backend the current map comes from.
    public var currentBackend: String { live?.backend ?? mapBackend }

    /// The current map as the client protocol carries it, each replica with its node's client
    /// endpoint (those of members added at runtime come from the map itself).
    public var currentWireMap: Almanac_Api_V1_ShardMap {
        let map = currentMap
        var addresses = clientAddresses
        for member in map.joinedMembers { addresses[member.id] = member.apiAddress }
        return map.wire(backend: currentBackend, clientAddresses: addresses)
    }

    public func shard(of id: InodeID) throws(APIError) -> ShardID {
        let map = currentMap
        guard let shard = map.shard(of: id) else {
            throw APIError(.wrongShard, "inode \(id) names segment \(id.segment), outside the map's \(map.keying.segmentCount) segments", shardEpoch: map.epoch)
        }
        return shard
    }

    /// A map of one shard (0) owning every segment, with no replicas known.
    public static var singleShardMap: ShardMap {
        // Valid by construction (one shard, every segment): the fallback is never taken.
        guard let map = try? ShardMap.initial(keying: MetadataConfig.defaultKeying, shardCount: 1, replicas: { _ in
            [ReplicaLocation(node: 1, zone: "local")]
        }) else { preconditionFailure("a one-shard map over the default keying is always valid") }
        return map
    }

    private func write(_ request: Almanac_Api_V1_Request, shard: ShardID, _ operation: MetadataOperation) throws(APIError) -> RoutedRequest {
        let (session, durability, target) = try writeKey(request, shard: shard)
        return .write(shard: target, operation: operation, session: session, durability: durability)
    }

    /// The write's session, durability and the shard it goes to: the session's shard. When this
    /// node's map puts the routing inode elsewhere (the client's map is stale, or a segment moved
    /// after the client's first attempt), the write still goes to the session's shard, whose state
    /// machine decides: it answers a retry of a write it applied from the session's cache, and
    /// refuses one it did not apply with `WRONG_SHARD` (never recorded), after which the client
    /// refreshes its map. Refusing here instead would turn the retry of an applied write into a new
    /// write on the new owner: applied twice (docs/migration.md).
    private func writeKey(_ request: Almanac_Api_V1_Request, shard: ShardID) throws(APIError) -> (SessionRef, Durability, ShardID) {
        guard request.sessionID != 0 else {
            throw APIError(.staleSession, "writes need a session: send open_session for shard \(shard) first")
        }
        let (sessionShard, local) = APISessionID.decode(request.sessionID)
        guard currentMap.shards[sessionShard] != nil else {
            throw APIError(.wrongShard, "session \(request.sessionID) names shard \(sessionShard), which the shard map does not define",
                           shardEpoch: currentMap.epoch)
        }
        // Sequence 0: only a keep-alive, which then records nothing (it confirms async writes).
        var keepAlive = false
        if case .keepAlive? = request.operation { keepAlive = true }
        guard request.sequence != 0 || keepAlive else {
            throw APIError(.einval, "sequence numbers start at 1")
        }
        let durability: Durability
        switch request.durability {
        case .majority: durability = .majority
        // A replay is answered once durable: its client needs to know its fate, not a second guess.
        case .leader: durability = request.replay ? .majority : .async
        case .UNRECOGNIZED(let raw): throw APIError(.einval, "unknown durability \(raw)")
        }
        return (SessionRef(id: local, sequence: request.sequence), durability, sessionShard)
    }

    private func read(_ request: Almanac_Api_V1_Request, shard: ShardID, _ query: MetadataQuery) throws(APIError) -> RoutedRequest {
        switch request.consistency {
        case .linearizable: return .read(shard: shard, consistency: .linearizable, query: query)
        case .stale: return .read(shard: shard, consistency: .stale, query: query)
        case .UNRECOGNIZED(let raw): throw APIError(.einval, "unknown read consistency \(raw)")
        }
    }

    /// Bits of `SetattrRequest.mask`.
    public enum SetattrBits {
        public static let mode: UInt32 = 1, uid: UInt32 = 2, gid: UInt32 = 4, size: UInt32 = 8
        public static let atime: UInt32 = 16, mtime: UInt32 = 32, atimeNow: UInt32 = 64, mtimeNow: UInt32 = 128
        public static let all: UInt32 = 255
    }

    static func changes(_ s: Almanac_Api_V1_SetattrRequest) throws(APIError) -> SetAttributes {
        typealias B = SetattrBits
        if s.mask & ~B.all != 0 { throw APIError(.einval, "unknown setattr mask bits 0x\(String(s.mask & ~B.all, radix: 16))") }
        if s.mask & B.atime != 0 && s.mask & B.atimeNow != 0 { throw APIError(.einval, "setattr: ATIME and ATIME_NOW exclude each other") }
        if s.mask & B.mtime != 0 && s.mask & B.mtimeNow != 0 { throw APIError(.einval, "setattr: MTIME and MTIME_NOW exclude each other") }
        var changes = SetAttributes()
        if s.mask & B.mode != 0 { changes.mode = s.mode }
        if s.mask & B.uid != 0 { changes.uid = s.uid }
        if s.mask & B.gid != 0 { changes.gid = s.gid }
        if s.mask & B.size != 0 { changes.size = s.size }
        if s.mask & B.atime != 0 { changes.atime = .set(Timestamp(nanoseconds: s.atimeNs)) }
        if s.mask & B.atimeNow != 0 { changes.atime = .now }
        if s.mask & B.mtime != 0 { changes.mtime = .set(Timestamp(nanoseconds: s.mtimeNs)) }
        if s.mask & B.mtimeNow != 0 { changes.mtime = .now }
        return changes
    }

    /// Bits of `OpenRequest.flags`.
    public enum OpenBits {
        public static let read: UInt32 = 1, write: UInt32 = 2, truncate: UInt32 = 4, append: UInt32 = 8
        public static let create: UInt32 = 16, exclusive: UInt32 = 32
        public static let all: UInt32 = 63
    }

    static func openFlags(_ bits: UInt32) throws(APIError) -> OpenFlags {
        typealias B = OpenBits
        if bits & ~B.all != 0 { throw APIError(.einval, "unknown open flags 0x\(String(bits & ~B.all, radix: 16))") }
        let writes = bits & (B.write | B.append) != 0
        let access: OpenFlags.Access = writes ? (bits & B.read != 0 ? .readWrite : .writeOnly) : .readOnly
        return OpenFlags(access: access, create: bits & B.create != 0, exclusive: bits & B.exclusive != 0, truncate: bits & B.truncate != 0)
    }

    // MARK: - Results -> Response

    /// The response to a journaled write.
    public func response(requestID: UInt64, shard: ShardID, write outcome: WriteOutcome) -> Almanac_Api_V1_Response {
        var response = Almanac_Api_V1_Response()
        response.requestID = requestID
        response.shardID = UInt64(shard)
        response.appliedIndex = outcome.index
        if outcome.leaderTerm != 0 {
            response.leaderTerm = outcome.leaderTerm
            response.durableIndex = outcome.durableIndex
        }
        switch outcome.result {
        case .failure(let error):
            response.error = Self.apiError(error).proto
        case .success(.attributes(let attributes)):
            response.entry = Self.entry(attributes)
        case .success(.opened(let handle, let attributes, let created)):
            var open = Almanac_Api_V1_OpenResponse()
            open.handle = handle
            open.attributes = Self.attributes(attributes)
            open.created = created
            response.open = open
        case .success(.done):
            response.empty = Almanac_Api_V1_EmptyResponse()
        case .success(.sessionRegistered(let local)):
            // Answered through openSessionResponse; reaching here means a translation bug.
            response.error = APIError(.internal, "session \(local) registered by a plain write").proto
        case .success(.prepared):
            response.error = APIError(.internal, "a transaction prepare reached a client").proto
        case .success(.handoffFrozen), .success(.exportPage):
            response.error = APIError(.internal, "a segment hand-off result reached a client").proto
        }
        return response
    }

    /// The response to a query.
    public func response(requestID: UInt64, shard: ShardID, read outcome: ReadOutcome) -> Almanac_Api_V1_Response {
        var response = Almanac_Api_V1_Response()
        response.requestID = requestID
        response.shardID = UInt64(shard)
        response.appliedIndex = outcome.appliedIndex
        switch outcome.result {
        case .failure(let error):
            response.error = Self.apiError(error).proto
        case .success(.attributes(let attributes)):
            response.entry = Self.entry(attributes)
        case .success(.directory(let attributes, let parent)):
            var entry = Self.entry(attributes)
            entry.attributes.parent = parent.rawValue
            response.entry = entry
        case .success(.remoteEntry(let id, let type)):
            var entry = Almanac_Api_V1_EntryResponse()
            entry.attributes.inode = id.rawValue
            entry.attributes.type = Self.fileType(type)
            entry.attributesElsewhere = true
            response.entry = entry
        case .success(.page(let page, let attributes)):
            var readdir = Almanac_Api_V1_ReaddirResponse()
            readdir.entries = page.entries.enumerated().map { index, entry in
                var dirEntry = Almanac_Api_V1_DirEntry()
                dirEntry.name = entry.name.string
                dirEntry.inode = entry.id.rawValue
                dirEntry.type = Self.fileType(entry.type)
                if let attributes, index < attributes.count, let child = attributes[index] { dirEntry.attributes = Self.attributes(child) }
                return dirEntry
            }
            if let next = page.nextCursor {
                readdir.nextCursor = Data(next.after.string.utf8)
            } else {
                readdir.end = true
            }
            response.readdir = readdir
        case .success(.exportPage):
            response.error = APIError(.internal, "a segment export page reached a client read").proto
        case .success(.symlinkTarget(let target)):
            var readlink = Almanac_Api_V1_ReadlinkResponse()
            readlink.target = target.string
            response.readlink = readlink
        }
        return response
    }

    /// The response to open_session.
    public func response(
        requestID: UInt64, shard: ShardID, session local: SessionID, index: UInt64, leaseMilliseconds: UInt32
    ) -> Almanac_Api_V1_Response {
        guard let id = APISessionID.encode(shard: shard, local: local) else {
            return errorResponse(requestID: requestID, APIError(.internal, "session id \(local) does not fit in 48 bits"))
        }
        var response = Almanac_Api_V1_Response()
        response.requestID = requestID
        response.shardID = UInt64(shard)
        response.appliedIndex = index
        var open = Almanac_Api_V1_OpenSessionResponse()
        open.sessionID = id
        open.leaseMs = leaseMilliseconds
        response.openSession = open
        return response
    }

    /// A response carrying only an error.
    public func errorResponse(requestID: UInt64, shard: ShardID? = nil, _ error: APIError) -> Almanac_Api_V1_Response {
        var response = Almanac_Api_V1_Response()
        response.requestID = requestID
        if let shard { response.shardID = UInt64(shard) }
        response.error = error.proto
        return response
    }

    // MARK: - Errors

    /// The protocol code of a namespace error. Codes the protocol merges (session errors, internal
    /// ones) keep the original name in the message.
    public static func apiError(_ error: MetadataError) -> APIError {
        switch error.code {
        case .eperm: APIError(.eperm, error.message)
        case .enoent: APIError(.enoent, error.message)
        case .ebadf: APIError(.ebadf, error.message)
        case .eexist: APIError(.eexist, error.message)
        case .exdev: APIError(.exdev, error.message)
        case .enotdir: APIError(.enotdir, error.message)
        case .eisdir: APIError(.eisdir, error.message)
        case .einval: APIError(.einval, error.message)
        case .efbig: APIError(.efbig, error.message)
        case .enospc: APIError(.enospc, error.message)
        case .emlink: APIError(.emlink, error.message)
        case .enametoolong: APIError(.enametoolong, error.message)
        case .enotempty: APIError(.enotempty, error.message)
        case .eloop: APIError(.eloop, error.message)
        case .emsgsize: APIError(.tooLarge, "\(error.code): \(error.message)")
        case .wrongShard: APIError(.wrongShard, error.message)
        case .crossShard: APIError(.unsupported, "this operation spans shards, and this server does not run cross-shard transactions yet: \(error.message)")
        case .conflict: APIError(.conflict, error.message)
        case .transactionAborted: APIError(.unavailable, "\(error.code): \(error.message)")
        case .unknownSession, .sessionExpired, .staleSequence: APIError(.staleSession, "\(error.code): \(error.message)")
        case .alreadyApplied, .badEntry, .internalInconsistency: APIError(.internal, "\(error.code): \(error.message)")
        }
    }

    /// The protocol code of a backend failure.
    public static func apiError(_ error: ServiceError) -> APIError {
        let code: Almanac_Api_V1_ErrorCode =
            switch error.code {
            case .notLeader: .notLeader
            case .unavailable: .unavailable
            case .timeout: .timeout
            case .tooLarge: .tooLarge
            case .wrongShard: .wrongShard
            case .unsupported: .unsupported
            case .invalidArgument: .einval
            case .internal: .internal
            }
        var api = APIError(code, error.message, leaderHint: error.code == .notLeader ? error.leaderHint : nil)
        api.replayWindow = error.replayWindow
        return api
    }

    // MARK: - Values

    public static func attributes(_ a: InodeAttributes) -> Almanac_Api_V1_InodeAttributes {
        var out = Almanac_Api_V1_InodeAttributes()
        out.inode = a.id.rawValue
        out.type = fileType(a.type)
        out.mode = a.mode
        out.uid = a.uid
        out.gid = a.gid
        out.size = a.size
        out.nlink = a.nlink
        out.atimeNs = a.atime.nanoseconds
        out.mtimeNs = a.mtime.nanoseconds
        out.ctimeNs = a.ctime.nanoseconds
        out.version = a.version
        return out
    }

    static func entry(_ a: InodeAttributes) -> Almanac_Api_V1_EntryResponse {
        var entry = Almanac_Api_V1_EntryResponse()
        entry.attributes = attributes(a)
        return entry
    }

    public static func fileType(_ type: FileType) -> Almanac_Api_V1_FileType {
        switch type {
        case .regular: .regular
        case .directory: .directory
        case .symlink: .symlink
        }
    }
}
