import AlmanacWire
import Foundation

/// The namespace operations, addressed by inode id (see ``AlmanacClient+Paths`` for paths).
extension AlmanacClient {
    private static func attributes(_ response: Almanac_Api_V1_Response, _ op: String) throws(AlmanacClientError) -> FileAttributes {
        guard case .entry(let entry)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "\(op): response carries no entry")
        }
        return entry.attributes
    }

    private static func empty(_ response: Almanac_Api_V1_Response, _ op: String) throws(AlmanacClientError) {
        guard case .empty? = response.result else {
            throw AlmanacClientError(.protocolViolation, "\(op): unexpected response \(String(describing: response.result))")
        }
    }

    public func mkdir(parent: UInt64, name: String, mode: UInt32 = 0o755, uid: UInt32 = 0, gid: UInt32 = 0) async throws(AlmanacClientError) -> FileAttributes {
        var m = Almanac_Api_V1_MkdirRequest()
        m.parent = parent; m.name = name; m.mode = mode; m.uid = uid; m.gid = gid
        var request = Almanac_Api_V1_Request()
        request.mkdir = m
        return try Self.attributes(try await writeRouted(request, inode: parent), "mkdir")
    }

    /// Creates a regular file. With `openExisting`, an existing regular file is returned unchanged (touch).
    public func create(
        parent: UInt64, name: String, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0, openExisting: Bool = false
    ) async throws(AlmanacClientError) -> FileAttributes {
        var c = Almanac_Api_V1_CreateRequest()
        c.parent = parent; c.name = name; c.mode = mode; c.uid = uid; c.gid = gid; c.openExisting = openExisting
        var request = Almanac_Api_V1_Request()
        request.create = c
        return try Self.attributes(try await writeRouted(request, inode: parent), "create")
    }

    public func lookup(parent: UInt64, name: String) async throws(AlmanacClientError) -> FileAttributes {
        var l = Almanac_Api_V1_LookupRequest()
        l.parent = parent; l.name = name
        var request = Almanac_Api_V1_Request()
        request.lookup = l
        let response = try await readRouted(request, inode: parent)
        guard case .entry(let entry)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "lookup: response carries no entry")
        }
        // A subdirectory whose record lives on another shard: its shard has the attributes.
        if entry.attributesElsewhere { return try await getattr(entry.attributes.inode) }
        return entry.attributes
    }

    /// The entry `name` of `parent` as its directory records it: the child's id and type, without
    /// asking the child's own shard (cross-shard transactions plan with this).
    public func entry(parent: UInt64, name: String) async throws(AlmanacClientError) -> (inode: UInt64, type: Almanac_Api_V1_FileType) {
        var l = Almanac_Api_V1_LookupRequest()
        l.parent = parent; l.name = name
        var request = Almanac_Api_V1_Request()
        request.lookup = l
        let attributes = try Self.attributes(try await readRouted(request, inode: parent), "lookup")
        return (attributes.inode, attributes.type)
    }

    /// Journals one command of the cross-shard transaction protocol on `shard` (node-to-node use;
    /// see docs/sharding.md) and returns the encoded result.
    public func shardCommand(shard: UInt16, operation: [UInt8]) async throws(AlmanacClientError) -> (result: [UInt8], index: UInt64) {
        var command = Almanac_Api_V1_ShardCommandRequest()
        command.shardID = UInt32(shard)
        command.operation = Data(operation)
        var request = Almanac_Api_V1_Request()
        request.shardCommand = command
        let response = try await read(request, shard: shard)
        guard case .shardCommand(let answer)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "shard command: response carries no result")
        }
        return (Array(answer.result), response.appliedIndex)
    }

    public func getattr(_ inode: UInt64) async throws(AlmanacClientError) -> FileAttributes {
        var g = Almanac_Api_V1_GetattrRequest()
        g.inode = inode
        var request = Almanac_Api_V1_Request()
        request.getattr = g
        return try Self.attributes(try await readRouted(request, inode: inode), "getattr")
    }

    public func setattr(_ inode: UInt64, _ changes: AttributeChanges) async throws(AlmanacClientError) -> FileAttributes {
        var s = changes.request
        s.inode = inode
        var request = Almanac_Api_V1_Request()
        request.setattr = s
        return try Self.attributes(try await writeRouted(request, inode: inode), "setattr")
    }

    public func rename(parent: UInt64, name: String, newParent: UInt64, newName: String) async throws(AlmanacClientError) {
        var r = Almanac_Api_V1_RenameRequest()
        r.parent = parent; r.name = name; r.newParent = newParent; r.newName = newName
        var request = Almanac_Api_V1_Request()
        request.rename = r
        try Self.empty(try await writeRouted(request, inode: parent), "rename")
    }

    public func unlink(parent: UInt64, name: String) async throws(AlmanacClientError) {
        var u = Almanac_Api_V1_UnlinkRequest()
        u.parent = parent; u.name = name
        var request = Almanac_Api_V1_Request()
        request.unlink = u
        try Self.empty(try await writeRouted(request, inode: parent), "unlink")
    }

    public func rmdir(parent: UInt64, name: String) async throws(AlmanacClientError) {
        var r = Almanac_Api_V1_RmdirRequest()
        r.parent = parent; r.name = name
        var request = Almanac_Api_V1_Request()
        request.rmdir = r
        try Self.empty(try await writeRouted(request, inode: parent), "rmdir")
    }

    /// One page of `directory` after `cursor` (nil: from the start). `limit` 0 = the server's default.
    public func readdirPage(
        _ directory: UInt64, cursor: Data? = nil, limit: UInt32 = 0, withAttributes: Bool = false
    ) async throws(AlmanacClientError) -> DirectoryPage {
        var r = Almanac_Api_V1_ReaddirRequest()
        r.inode = directory; r.cursor = cursor ?? Data(); r.limit = limit; r.withAttributes = withAttributes
        var request = Almanac_Api_V1_Request()
        request.readdir = r
        let response = try await readRouted(request, inode: directory)
        guard case .readdir(let page)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "readdir: response carries no page")
        }
        var entries = page.entries
        if withAttributes {
            // Children whose records live on other shards (subdirectories, usually) come without
            // attributes: ask their shards. A child removed meanwhile keeps only its id and type.
            for index in entries.indices where !entries[index].hasAttributes {
                if let attributes = try? await getattr(entries[index].inode) { entries[index].attributes = attributes }
            }
        }
        return DirectoryPage(entries: entries, nextCursor: page.end ? nil : page.nextCursor)
    }

    /// All entries of `directory`, fetched page by page as the sequence is iterated.
    public nonisolated func readdir(_ directory: UInt64, pageSize: UInt32 = 0, withAttributes: Bool = false) -> DirectoryListing {
        DirectoryListing(client: self, directory: directory, pageSize: pageSize, withAttributes: withAttributes)
    }

    /// Opens the entry `name` of `parent`; the handle belongs to this client's session of that shard.
    public func open(
        parent: UInt64, name: String, flags: OpenOptions = [.read], mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0
    ) async throws(AlmanacClientError) -> OpenFile {
        var o = Almanac_Api_V1_OpenRequest()
        o.parent = parent; o.name = name; o.flags = flags.rawValue; o.mode = mode; o.uid = uid; o.gid = gid
        var request = Almanac_Api_V1_Request()
        request.open = o
        let target = try await shard(ofInode: parent)
        let response = try await write(request, shard: target)
        guard case .open(let opened)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "open: response carries no handle")
        }
        return OpenFile(handle: opened.handle, attributes: opened.attributes, created: opened.created, shard: target)
    }

    public func close(_ file: OpenFile) async throws(AlmanacClientError) {
        var c = Almanac_Api_V1_CloseRequest()
        c.handle = file.handle
        var request = Almanac_Api_V1_Request()
        request.close = c
        try Self.empty(try await write(request, shard: file.shard), "close")
    }

    /// Adds the hard link `newParent/newName` to the non-directory `inode`.
    public func link(_ inode: UInt64, newParent: UInt64, newName: String) async throws(AlmanacClientError) -> FileAttributes {
        var l = Almanac_Api_V1_LinkRequest()
        l.inode = inode; l.newParent = newParent; l.newName = newName
        var request = Almanac_Api_V1_Request()
        request.link = l
        return try Self.attributes(try await writeRouted(request, inode: newParent), "link")
    }

    public func symlink(parent: UInt64, name: String, target: String, uid: UInt32 = 0, gid: UInt32 = 0) async throws(AlmanacClientError) -> FileAttributes {
        var s = Almanac_Api_V1_SymlinkRequest()
        s.parent = parent; s.name = name; s.target = target; s.uid = uid; s.gid = gid
        var request = Almanac_Api_V1_Request()
        request.symlink = s
        return try Self.attributes(try await writeRouted(request, inode: parent), "symlink")
    }

    public func readlink(_ inode: UInt64) async throws(AlmanacClientError) -> String {
        var r = Almanac_Api_V1_ReadlinkRequest()
        r.inode = inode
        var request = Almanac_Api_V1_Request()
        request.readlink = r
        let response = try await readRouted(request, inode: inode)
        guard case .readlink(let link)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "readlink: response carries no target")
        }
        return link.target
    }

    /// Nodes, zones, health, shards, leaders and commit indexes as one node sees them; with
    /// `stateDigests`, each replica's state digest too (O(state size) on the node: for
    /// consistency checks, not for polling).
    public func status(stateDigests: Bool = false) async throws(AlmanacClientError) -> ClusterStatus {
        var request = Almanac_Api_V1_Request()
        request.clusterStatus = Almanac_Api_V1_ClusterStatusRequest()
        request.clusterStatus.stateDigests = stateDigests
        let response = try await read(request, shard: nil)
        guard case .clusterStatus(let status)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "status: response carries no cluster status")
        }
        return status
    }
}

/// The entries of a directory, fetched page by page (stable cursors: an entry present for the whole
/// listing appears exactly once).
public struct DirectoryListing: AsyncSequence, Sendable {
    public typealias Element = DirectoryEntry
    let client: AlmanacClient
    let directory: UInt64
    let pageSize: UInt32
    let withAttributes: Bool

    public struct AsyncIterator: AsyncIteratorProtocol {
        let listing: DirectoryListing
        var buffer: [DirectoryEntry] = []
        var position = 0
        var cursor: Data?
        var finished = false

        public mutating func next() async throws -> DirectoryEntry? {
            while position >= buffer.count {
                if finished { return nil }
                let page = try await listing.client.readdirPage(
                    listing.directory, cursor: cursor, limit: listing.pageSize, withAttributes: listing.withAttributes)
                buffer = page.entries
                position = 0
                cursor = page.nextCursor
                finished = page.nextCursor == nil
            }
            defer { position += 1 }
            return buffer[position]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(listing: self) }

    /// Collects every entry.
    public func collect() async throws -> [DirectoryEntry] {
        var all: [DirectoryEntry] = []
        for try await entry in self { all.append(entry) }
        return all
    }
}
