import AlmanacClient
import AlmanacMetadata
import AlmanacNode
import AlmanacServer
import AlmanacWire

/// The production transport: shard commands and reads through the client protocol (any node
/// reaches every shard's leader, following NOT_LEADER hints), transactions in doubt read from this
/// node's own replicas.
public struct ClientTransactionTransport: TransactionTransport {
    public let client: AlmanacClient
    public let host: MultiRaftHost<MetadataReplica>?
    /// The node's watched map: plans follow segment hand-offs as soon as the node learns of them
    /// (nil: the client's cached map, refreshed after WRONG_SHARD).
    public let live: LiveShardMap?

    public init(client: AlmanacClient, host: MultiRaftHost<MetadataReplica>?, live: LiveShardMap? = nil) {
        self.client = client
        self.host = host
        self.live = live
    }

    public func command(_ operation: MetadataOperation, on shard: ShardID) async -> Result<(CommandResult, UInt64), CommandFailure> {
        do {
            let answer = try await client.shardCommand(shard: shard, operation: operation.encodedOperation())
            return .success((try CommandResult(decoding: answer.result), answer.index))
        } catch {
            return .failure(CommandFailure(reason: "\(error)"))
        }
    }

    public func shardMap() async throws(CommandFailure) -> ShardMap {
        if let live { return live.current }
        do { return try await client.currentShardMap() } catch { throw CommandFailure(reason: "\(error)") }
    }

    public func entry(parent: InodeID, name: ByteString) async throws(PlanFailure) -> (InodeID, FileType) {
        do {
            let found = try await client.entry(parent: parent.rawValue, name: name.string)
            return (InodeID(found.inode), Self.fileType(found.type))
        } catch {
            throw Self.failure(error)
        }
    }

    public func attributes(of id: InodeID) async throws(PlanFailure) -> (InodeAttributes, parent: InodeID?) {
        do {
            let a = try await client.getattr(id.rawValue)
            let attributes = InodeAttributes(
                id: InodeID(a.inode), type: Self.fileType(a.type), mode: a.mode, uid: a.uid, gid: a.gid, size: a.size,
                nlink: a.nlink, atime: Timestamp(nanoseconds: a.atimeNs), mtime: Timestamp(nanoseconds: a.mtimeNs),
                ctime: Timestamp(nanoseconds: a.ctimeNs), version: a.version)
            return (attributes, a.type == .directory ? InodeID(a.parent) : nil)
        } catch {
            throw Self.failure(error)
        }
    }

    public func transactionsInDoubt(on shard: ShardID) async -> [(id: TransactionID, preparedAt: Timestamp)]? {
        guard let host else { return nil }
        return try? await host.reading(group: UInt64(shard), linearizable: false) { $0.state.transactionsInDoubt }.get().value
    }

    public func ledShards() async -> [ShardID] {
        guard let host, let status = await host.status(digests: false) else { return [] }
        return status.groups.filter { $0.raft.leader == status.nodeID }.map { ShardID(truncatingIfNeeded: $0.group) }
    }

    static func failure(_ error: AlmanacClientError) -> PlanFailure {
        if let code = namespaceCode(error.code) { return .namespace(MetadataError(code, error.message)) }
        return .unavailable("\(error)")
    }

    static func namespaceCode(_ code: Almanac_Api_V1_ErrorCode) -> ErrorCode? {
        switch code {
        case .enoent: .enoent
        case .eexist: .eexist
        case .enotdir: .enotdir
        case .eisdir: .eisdir
        case .enotempty: .enotempty
        case .einval: .einval
        case .enametoolong: .enametoolong
        case .ebadf: .ebadf
        case .emlink: .emlink
        case .eloop: .eloop
        case .eperm: .eperm
        case .efbig: .efbig
        case .enospc: .enospc
        case .conflict: .conflict
        default: nil
        }
    }

    static func fileType(_ type: Almanac_Api_V1_FileType) -> FileType {
        switch type {
        case .directory: .directory
        case .symlink: .symlink
        default: .regular
        }
    }
}
