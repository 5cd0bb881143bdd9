import AlmanacMetadata

/// Works out a cross-shard operation's per-shard steps from linearizable reads of the shards that
/// hold the records it touches. Every read fact becomes a precondition of a step (an entry still
/// names the same child, a directory is still empty, a parent is still the parent), so prepare
/// refuses the plan if anything changed in between and the coordinator plans again.
struct TransactionPlanner: Sendable {
    let transport: any TransactionTransport
    let map: ShardMap

    func plan(_ operation: MetadataOperation, now: Timestamp) async throws(PlanFailure) -> TransactionPlan {
        switch operation {
        case let .mkdir(parent, name, mode, uid, gid):
            let segment = map.keying.segmentForNewDirectory(parent: parent, name: name.string.utf8)
            let parentShard = try shard(of: parent)
            guard let newShard = map.shard(ofSegment: segment) else {
                throw .namespace(MetadataError(.einval, "segment \(segment) is outside the map"))
            }
            let attributes: @Sendable (InodeID) -> InodeAttributes = { id in
                InodeAttributes(id: id, type: .directory, mode: mode & FileType.permissionMask, uid: uid, gid: gid, size: 0,
                                nlink: 2, atime: now, mtime: now, ctime: now, version: 1)
            }
            return TransactionPlan(
                fragments: [:],
                newDirectory: .init(shard: newShard, step: .createDirectory(segment: segment, parent: parent, mode: mode, uid: uid, gid: gid),
                                    parent: parent, parentShard: parentShard, name: name, attributes: attributes),
                outcome: .done)
        case let .unlink(parent, name):
            let (child, type) = try await entry(parent, name)
            if type == .directory { throw .namespace(MetadataError(.eisdir, "\"\(name)\" is a directory; use rmdir")) }
            var plan = TransactionPlan(fragments: [:], outcome: .done)
            try add(&plan, .removeEntry(directory: parent, name: name, child: child), on: parent)
            try add(&plan, .adjustLinks(inode: child, delta: -1), on: child)
            return plan
        case let .rmdir(parent, name):
            let (child, type) = try await entry(parent, name)
            if type != .directory { throw .namespace(MetadataError(.enotdir, "\"\(name)\" is not a directory")) }
            var plan = TransactionPlan(fragments: [:], outcome: .done)
            try add(&plan, .removeEntry(directory: parent, name: name, child: child), on: parent)
            try add(&plan, .removeDirectory(directory: child), on: child)
            return plan
        case let .link(target, parent, name):
            let (attributes, _) = try await transport.attributes(of: target)
            if attributes.type == .directory { throw .namespace(MetadataError(.eperm, "cannot hard-link directory \(target)")) }
            if attributes.nlink == 0 { throw .namespace(MetadataError(.enoent, "inode \(target) has no links left")) }
            _ = try await directory(parent)
            var plan = TransactionPlan(fragments: [:], outcome: .done)
            try add(&plan, .addEntry(directory: parent, name: name, child: target, type: attributes.type), on: parent)
            try add(&plan, .adjustLinks(inode: target, delta: 1), on: target)
            var linked = attributes
            linked.nlink += 1
            linked.ctime = now
            linked.version &+= 1
            plan.outcome = .attributes(linked)
            return plan
        case let .rename(fromParent, fromName, toParent, toName):
            return try await planRename(fromParent: fromParent, fromName: fromName, toParent: toParent, toName: toName)
        default:
            throw .namespace(MetadataError(.einval, "\(operation.name) never spans shards"))
        }
    }

    private func planRename(fromParent: InodeID, fromName: ByteString, toParent: InodeID, toName: ByteString) async throws(PlanFailure) -> TransactionPlan {
        _ = try await directory(toParent)
        let (moved, movedType) = try await entry(fromParent, fromName)
        var replaced: (id: InodeID, type: FileType)?
        do {
            replaced = try await entry(toParent, toName)
        } catch .namespace(let error) where error.code == .enoent {
            replaced = nil
        }
        var plan = TransactionPlan(fragments: [:], outcome: .done)
        if replaced?.id == moved { return plan }  // same inode: nothing to do
        if let replaced {
            if movedType == .directory && replaced.type != .directory {
                throw .namespace(MetadataError(.enotdir, "cannot replace non-directory \"\(toName)\" with a directory"))
            }
            if movedType != .directory && replaced.type == .directory {
                throw .namespace(MetadataError(.eisdir, "cannot replace directory \"\(toName)\" with a non-directory"))
            }
        }
        if movedType == .directory && fromParent != toParent {
            // Refuse moving a directory into its own subtree: walk the destination's ancestors and
            // assert each parent link (locked until the end, so the chain cannot change meanwhile).
            var cursor = toParent
            for _ in 0..<4096 {
                if cursor == moved {
                    throw .namespace(MetadataError(.eloop, "cannot move directory \(moved) into its own subtree"))
                }
                let parent = try await directory(cursor)
                try add(&plan, .assertParent(directory: cursor, parent: parent), on: cursor)
                if cursor == .root { break }
                cursor = parent
            }
            try add(&plan, .reparent(directory: moved, parent: toParent), on: moved)
        }
        try add(&plan, .removeEntry(directory: fromParent, name: fromName, child: moved), on: fromParent)
        if let replaced {
            try add(&plan, .replaceEntry(directory: toParent, name: toName, old: replaced.id, new: moved, newType: movedType), on: toParent)
            if replaced.type == .directory {
                try add(&plan, .removeDirectory(directory: replaced.id), on: replaced.id)
            } else {
                try add(&plan, .adjustLinks(inode: replaced.id, delta: -1), on: replaced.id)
            }
        } else {
            try add(&plan, .addEntry(directory: toParent, name: toName, child: moved, type: movedType), on: toParent)
        }
        return plan
    }

    // MARK: - Reads

    func shard(of id: InodeID) throws(PlanFailure) -> ShardID {
        guard let shard = map.shard(of: id) else {
            throw .namespace(MetadataError(.einval, "inode \(id) names segment \(id.segment), outside the map"))
        }
        return shard
    }

    private func add(_ plan: inout TransactionPlan, _ step: TransactionStep, on record: InodeID) throws(PlanFailure) {
        plan.fragments[try shard(of: record), default: []].append(step)
    }

    private func entry(_ parent: InodeID, _ name: ByteString) async throws(PlanFailure) -> (InodeID, FileType) {
        try await transport.entry(parent: parent, name: name)
    }

    /// A live directory's parent.
    private func directory(_ id: InodeID) async throws(PlanFailure) -> InodeID {
        let (attributes, parent) = try await transport.attributes(of: id)
        guard attributes.type == .directory, let parent else {
            throw .namespace(MetadataError(.enotdir, "inode \(id) is not a directory"))
        }
        guard attributes.nlink > 0 else { throw .namespace(MetadataError(.enoent, "directory \(id) was removed")) }
        return parent
    }
}
