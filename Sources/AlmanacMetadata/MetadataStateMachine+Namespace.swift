/// The namespace mutations. Each one validates everything first and only then mutates, so a
/// failed operation leaves the state unchanged.
extension MetadataStateMachine {
    // MARK: - Lookup helpers

    /// Whether the record of `id` lies in a segment this shard owns.
    func isLocal(_ id: InodeID) -> Bool { ownership.owns(id) }

    /// Checks the inode a request was routed by: it must be valid, owned here (else `WRONG_SHARD`,
    /// the client's map is stale) and not locked by a transaction in progress.
    func checkID(_ id: InodeID, _ role: String) throws(MetadataError) {
        if id.rawValue == 0 { throw MetadataError(.einval, "\(role) inode id 0 is invalid") }
        if !isLocal(id) {
            throw MetadataError(
                .wrongShard,
                "\(role) inode \(id) is in segment \(id.segment), which shard \(config.shardID) does not own (shard epoch \(ownership.epoch)); refresh the shard map")
        }
        try checkUnlocked(id, role)
    }

    /// Checks another record the operation touches: owned here (else the operation is a cross-shard
    /// one, `CROSS_SHARD`) and not locked.
    func checkTouched(_ id: InodeID, _ role: String) throws(MetadataError) {
        if !isLocal(id) {
            throw MetadataError(.crossShard, "\(role) inode \(id) is in segment \(id.segment), owned by another shard")
        }
        try checkUnlocked(id, role)
    }

    func checkUnlocked(_ id: InodeID, _ role: String) throws(MetadataError) {
        if isFrozen(id.segment) {
            throw MetadataError(.conflict, "\(role) inode \(id) is in segment \(id.segment), moving to another shard; retry")
        }
        if let transaction = locks[id] {
            throw MetadataError(.conflict, "\(role) inode \(id) is locked by \(transaction) in progress; retry")
        }
    }

    /// The inode `id` (orphans included).
    func existingInode(_ id: InodeID, _ role: String) throws(MetadataError) -> Inode {
        try checkID(id, role)
        guard let node = inodes[id] else { throw MetadataError(.enoent, "\(role) inode \(id) does not exist") }
        return node
    }

    /// Checks that `id` is a live directory and returns its attributes.
    ///
    /// Returns attributes, not the `Inode`: a local copy of a directory's entries held across
    /// a mutation would force a copy-on-write of the whole entry table.
    func liveDirectory(_ id: InodeID, _ role: String, allowOrphan: Bool = false) throws(MetadataError) -> InodeAttributes {
        try checkID(id, role)
        guard let attributes = inodes[id]?.attributes else {
            throw MetadataError(.enoent, "\(role) inode \(id) does not exist")
        }
        guard attributes.type == .directory else { throw MetadataError(.enotdir, "\(role) inode \(id) is not a directory") }
        if attributes.nlink == 0 && !allowOrphan {
            throw MetadataError(.enoent, "\(role) directory \(id) was removed")
        }
        return attributes
    }

    /// The child named `name` in directory `parent`, read without copying the entry table.
    func entry(_ parent: InodeID, _ name: ByteString) -> InodeID? { inodes[parent]?.entries[name] }

    /// The type of the child named `name` in directory `parent`.
    func entryType(_ parent: InodeID, _ name: ByteString) -> FileType? { inodes[parent]?.entries.type(of: name) }

    /// The inode named by an entry; a missing one is a broken invariant.
    func child(_ id: InodeID) throws(MetadataError) -> Inode {
        guard let node = inodes[id] else {
            throw MetadataError(.internalInconsistency, "directory entry points to missing inode \(id)")
        }
        return node
    }

    func checkName(_ name: ByteString) throws(MetadataError) {
        if let error = Validation.name(name, limits: config.limits) { throw error }
    }

    func checkOwners(uid: UInt32, gid: UInt32) throws(MetadataError) {
        if let error = Validation.owner(uid, "uid") ?? Validation.owner(gid, "gid") { throw error }
    }

    /// The next counter of `segment`.
    func nextCounter(_ segment: SegmentID) -> UInt64 { segmentCounters[segment] ?? 1 }

    func checkIDAvailable(in segment: SegmentID) throws(MetadataError) {
        if isFrozen(segment) {
            throw MetadataError(.conflict, "segment \(segment) is moving to another shard; retry")
        }
        if nextCounter(segment) > InodeID.maxCounter {
            throw MetadataError(.enospc, "segment \(segment) has allocated all of its inode ids")
        }
    }

    /// Allocates the next id of `segment` (callers checked ``checkIDAvailable(in:)``).
    mutating func allocateID(in segment: SegmentID) -> InodeID {
        if let reserved = confirmingReservation, reserved.segment == segment {
            confirmingReservation = nil
            return reserved
        }
        let counter = nextCounter(segment)
        segmentCounters[segment] = counter + 1
        return InodeID(segment: segment, counter: counter)
    }

    /// The segment a new inode of `type` named `name` in `parent` is allocated in.
    func segmentForNew(_ type: FileType, parent: InodeID, name: ByteString) -> SegmentID {
        type == .directory ? config.keying.segmentForNewDirectory(parent: parent, name: name.string.utf8) : parent.segment
    }

    // MARK: - Creation

    /// Allocates an inode and links it as `name` in `parent`. Callers validated everything.
    private mutating func insertNew(
        _ type: FileType, mode: UInt32, uid: UInt32, gid: UInt32, size: UInt64, symlinkTarget: ByteString?,
        parent: InodeID, name: ByteString, now: Timestamp
    ) -> InodeAttributes {
        let id = allocateID(in: segmentForNew(type, parent: parent, name: name))
        let attributes = InodeAttributes(
            id: id, type: type, mode: mode & FileType.permissionMask, uid: uid, gid: gid, size: size,
            nlink: type == .directory ? 2 : 1, atime: now, mtime: now, ctime: now, version: 1)
        inodes[id] = Inode(
            attributes: attributes, parent: type == .directory ? parent : InodeID(0), entries: DirectoryEntries(),
            symlinkTarget: symlinkTarget)
        inodes[parent]?.entries.set(name, to: id, type: type)
        if type == .directory { inodes[parent]?.attributes.nlink += 1 }
        inodes[parent]?.touchModify(now)
        return attributes
    }

    mutating func mkdir(
        parent: InodeID, name: ByteString, mode: UInt32, uid: UInt32, gid: UInt32, now: Timestamp
    ) throws(MetadataError) -> OperationOutcome {
        try checkName(name)
        if let error = Validation.mode(mode, for: .directory) { throw error }
        try checkOwners(uid: uid, gid: gid)
        let directory = try liveDirectory(parent, "parent")
        if entry(parent, name) != nil { throw MetadataError(.eexist, "\"\(name)\" already exists in \(parent)") }
        if directory.nlink >= config.limits.maxLinks {
            throw MetadataError(.emlink, "directory \(parent) has the maximum of \(config.limits.maxLinks) links")
        }
        let segment = segmentForNew(.directory, parent: parent, name: name)
        if !ownership.owns(segment) {
            throw MetadataError(.crossShard, "the new directory's segment \(segment) is owned by another shard")
        }
        try checkIDAvailable(in: segment)
        return .attributes(insertNew(
            .directory, mode: mode, uid: uid, gid: gid, size: 0, symlinkTarget: nil, parent: parent, name: name, now: now))
    }

    mutating func create(
        parent: InodeID, name: ByteString, mode: UInt32, uid: UInt32, gid: UInt32, now: Timestamp
    ) throws(MetadataError) -> OperationOutcome {
        try checkName(name)
        if let error = Validation.mode(mode, for: .regular) { throw error }
        try checkOwners(uid: uid, gid: gid)
        _ = try liveDirectory(parent, "parent")
        if entry(parent, name) != nil { throw MetadataError(.eexist, "\"\(name)\" already exists in \(parent)") }
        try checkIDAvailable(in: parent.segment)
        return .attributes(insertNew(
            .regular, mode: mode, uid: uid, gid: gid, size: 0, symlinkTarget: nil, parent: parent, name: name, now: now))
    }

    mutating func symlink(
        parent: InodeID, name: ByteString, target: ByteString, uid: UInt32, gid: UInt32, now: Timestamp
    ) throws(MetadataError) -> OperationOutcome {
        try checkName(name)
        if let error = Validation.symlinkTarget(target, limits: config.limits) { throw error }
        try checkOwners(uid: uid, gid: gid)
        _ = try liveDirectory(parent, "parent")
        if entry(parent, name) != nil { throw MetadataError(.eexist, "\"\(name)\" already exists in \(parent)") }
        try checkIDAvailable(in: parent.segment)
        return .attributes(insertNew(
            .symlink, mode: 0o777, uid: uid, gid: gid, size: UInt64(target.byteCount), symlinkTarget: target,
            parent: parent, name: name, now: now))
    }

    mutating func link(
        target: InodeID, parent: InodeID, name: ByteString, now: Timestamp
    ) throws(MetadataError) -> OperationOutcome {
        try checkName(name)
        try checkID(parent, "parent")
        if target.rawValue == 0 { throw MetadataError(.einval, "link target inode id 0 is invalid") }
        try checkTouched(target, "link target")
        let node = try existingInode(target, "link target")
        _ = try liveDirectory(parent, "parent")
        if entry(parent, name) != nil { throw MetadataError(.eexist, "\"\(name)\" already exists in \(parent)") }
        if node.isDirectory { throw MetadataError(.eperm, "cannot hard-link directory \(target)") }
        if node.isOrphan { throw MetadataError(.enoent, "inode \(target) has no links left") }
        if node.attributes.nlink >= config.limits.maxLinks {
            throw MetadataError(.emlink, "inode \(target) has the maximum of \(config.limits.maxLinks) links")
        }
        inodes[parent]?.entries.set(name, to: target, type: node.type)
        inodes[parent]?.touchModify(now)
        inodes[target]?.attributes.nlink += 1
        inodes[target]?.touchChange(now)
        return .attributes(try child(target).attributes)
    }

    // MARK: - Removal

    /// Drops one link of a non-directory; deletes it when unlinked and not open.
    private mutating func dropLink(_ id: InodeID, now: Timestamp) {
        guard var node = inodes[id] else { return }
        node.attributes.nlink -= 1
        node.touchChange(now)
        if node.isOrphan && openCounts[id] == nil {
            inodes.removeValue(forKey: id)
        } else {
            inodes[id] = node
        }
    }

    /// Marks a removed (empty) directory dead; deletes it unless open.
    private mutating func dropDirectory(_ id: InodeID, now: Timestamp) {
        if openCounts[id] == nil {
            inodes.removeValue(forKey: id)
        } else {
            inodes[id]?.attributes.nlink = 0
            inodes[id]?.touchChange(now)
        }
    }

    mutating func unlink(parent: InodeID, name: ByteString, now: Timestamp) throws(MetadataError) -> OperationOutcome {
        try checkName(name)
        _ = try liveDirectory(parent, "parent")
        guard let id = entry(parent, name) else { throw MetadataError(.enoent, "\"\(name)\" does not exist in \(parent)") }
        if entryType(parent, name) == .directory { throw MetadataError(.eisdir, "\"\(name)\" is a directory; use rmdir") }
        try checkTouched(id, "entry")
        inodes[parent]?.entries.remove(name)
        inodes[parent]?.touchModify(now)
        dropLink(id, now: now)
        return .done
    }

    mutating func rmdir(parent: InodeID, name: ByteString, now: Timestamp) throws(MetadataError) -> OperationOutcome {
        try checkName(name)
        _ = try liveDirectory(parent, "parent")
        guard let id = entry(parent, name) else { throw MetadataError(.enoent, "\"\(name)\" does not exist in \(parent)") }
        if entryType(parent, name) != .directory { throw MetadataError(.enotdir, "\"\(name)\" is not a directory") }
        try checkTouched(id, "directory")
        let node = try child(id)
        if !node.entries.isEmpty { throw MetadataError(.enotempty, "directory \"\(name)\" has \(node.entries.count) entries") }
        inodes[parent]?.entries.remove(name)
        inodes[parent]?.attributes.nlink -= 1
        inodes[parent]?.touchModify(now)
        dropDirectory(id, now: now)
        return .done
    }

    // MARK: - Rename

    mutating func rename(
        fromParent: InodeID, fromName: ByteString, toParent: InodeID, toName: ByteString, now: Timestamp
    ) throws(MetadataError) -> OperationOutcome {
        try checkName(fromName)
        try checkName(toName)
        _ = try liveDirectory(fromParent, "source parent")
        if toParent.rawValue == 0 { throw MetadataError(.einval, "destination parent inode id 0 is invalid") }
        try checkTouched(toParent, "destination parent")
        let destination = try liveDirectory(toParent, "destination parent")
        guard let movedID = entry(fromParent, fromName) else {
            throw MetadataError(.enoent, "\"\(fromName)\" does not exist in \(fromParent)")
        }
        let replacedID = entry(toParent, toName)
        if replacedID == movedID { return .done }  // same entry, or two links to the same inode
        try checkTouched(movedID, "renamed entry")
        if let replacedID { try checkTouched(replacedID, "replaced entry") }
        let moved = try child(movedID)

        if moved.isDirectory {
            // Refuse moving a directory into itself or its own subtree.
            var cursor = toParent
            var steps = 0
            let inodeCount = inodes.count  // a cycle guard: no chain is longer
            while true {
                if cursor == movedID {
                    throw MetadataError(.eloop, "cannot move directory \(movedID) into its own subtree")
                }
                if cursor == .root { break }
                // An ancestor on another shard: only the coordinator can check the whole chain.
                if !isLocal(cursor) {
                    throw MetadataError(.crossShard, "an ancestor of \(toParent) lives on another shard")
                }
                guard let up = inodes[cursor]?.parent, steps <= inodeCount else {
                    throw MetadataError(.internalInconsistency, "broken parent chain at \(cursor)")
                }
                cursor = up
                steps += 1
            }
        }
        var replaced: Inode?
        if let replacedID {
            let existing = try child(replacedID)
            if moved.isDirectory && !existing.isDirectory {
                throw MetadataError(.enotdir, "cannot replace non-directory \"\(toName)\" with a directory")
            }
            if !moved.isDirectory && existing.isDirectory {
                throw MetadataError(.eisdir, "cannot replace directory \"\(toName)\" with a non-directory")
            }
            if existing.isDirectory && !existing.entries.isEmpty {
                throw MetadataError(.enotempty, "destination directory \"\(toName)\" is not empty")
            }
            replaced = existing
        }
        let changesParent = moved.isDirectory && fromParent != toParent
        if changesParent && replaced == nil && destination.nlink >= config.limits.maxLinks {
            throw MetadataError(.emlink, "directory \(toParent) has the maximum of \(config.limits.maxLinks) links")
        }

        // All checks passed: mutate.
        if let replaced {
            inodes[toParent]?.entries.remove(toName)
            if replaced.isDirectory {
                inodes[toParent]?.attributes.nlink -= 1
                dropDirectory(replaced.id, now: now)
            } else {
                dropLink(replaced.id, now: now)
            }
        }
        inodes[fromParent]?.entries.remove(fromName)
        inodes[toParent]?.entries.set(toName, to: movedID, type: moved.type)
        if changesParent {
            inodes[fromParent]?.attributes.nlink -= 1
            inodes[toParent]?.attributes.nlink += 1
            inodes[movedID]?.parent = toParent
        }
        inodes[fromParent]?.touchModify(now)
        if toParent != fromParent { inodes[toParent]?.touchModify(now) }
        inodes[movedID]?.touchChange(now)
        return .done
    }

    // MARK: - Attributes

    mutating func setattr(_ id: InodeID, _ changes: SetAttributes, now: Timestamp) throws(MetadataError) -> OperationOutcome {
        var node = try existingInode(id, "target")
        if changes.isEmpty { return .attributes(node.attributes) }
        if let mode = changes.mode, let error = Validation.mode(mode, for: node.type) { throw error }
        if let uid = changes.uid, let error = Validation.owner(uid, "uid") { throw error }
        if let gid = changes.gid, let error = Validation.owner(gid, "gid") { throw error }
        if let size = changes.size {
            switch node.type {
            case .directory: throw MetadataError(.eisdir, "cannot set the size of directory \(id)")
            case .symlink: throw MetadataError(.einval, "cannot set the size of symlink \(id)")
            case .regular:
                if size > UInt64(Int64.max) { throw MetadataError(.efbig, "size \(size) exceeds the maximum file size") }
            }
        }
        if let mode = changes.mode { node.attributes.mode = mode & FileType.permissionMask }
        if let uid = changes.uid { node.attributes.uid = uid }
        if let gid = changes.gid { node.attributes.gid = gid }
        if let size = changes.size {
            node.attributes.size = size
            node.attributes.mtime = now
        }
        switch changes.atime {
        case .now: node.attributes.atime = now
        case .set(let time): node.attributes.atime = time
        case nil: break
        }
        switch changes.mtime {
        case .now: node.attributes.mtime = now
        case .set(let time): node.attributes.mtime = time
        case nil: break
        }
        node.touchChange(now)
        inodes[id] = node
        return .attributes(node.attributes)
    }

    // MARK: - Handles

    mutating func open(
        parent: InodeID, name: ByteString, flags: OpenFlags, mode: UInt32, uid: UInt32, gid: UInt32,
        session: SessionID, now: Timestamp
    ) throws(MetadataError) -> OperationOutcome {
        try checkName(name)
        if flags.exclusive && !flags.create { throw MetadataError(.einval, "exclusive open requires create") }
        if flags.truncate && !flags.access.writes { throw MetadataError(.einval, "truncate requires write access") }
        if flags.create {
            if let error = Validation.mode(mode, for: .regular) { throw error }
            try checkOwners(uid: uid, gid: gid)
        }
        _ = try liveDirectory(parent, "parent")
        if nextHandle == HandleID.max { throw MetadataError(.enospc, "handle ids are exhausted") }
        let attributes: InodeAttributes
        let created: Bool
        if let id = entry(parent, name) {
            if flags.create && flags.exclusive { throw MetadataError(.eexist, "\"\(name)\" already exists in \(parent)") }
            try checkTouched(id, "entry")
            let node = try child(id)
            switch node.type {
            case .symlink:
                throw MetadataError(.eloop, "\"\(name)\" is a symlink; open does not follow symlinks (resolve with readlink)")
            case .directory:
                if flags.access.writes || flags.truncate || flags.create {
                    throw MetadataError(.eisdir, "\"\(name)\" is a directory; it can only be opened read-only")
                }
            case .regular:
                break
            }
            if flags.truncate && node.type == .regular {
                inodes[id]?.attributes.size = 0
                inodes[id]?.touchModify(now)
            }
            attributes = try child(id).attributes
            created = false
        } else {
            if !flags.create { throw MetadataError(.enoent, "\"\(name)\" does not exist in \(parent)") }
            try checkIDAvailable(in: parent.segment)
            attributes = insertNew(
                .regular, mode: mode, uid: uid, gid: gid, size: 0, symlinkTarget: nil, parent: parent, name: name, now: now)
            created = true
        }
        let handle = nextHandle
        nextHandle &+= 1
        handles[handle] = OpenHandle(id: handle, session: session, inode: attributes.id, access: flags.access)
        openCounts[attributes.id, default: 0] += 1
        return .opened(handle: handle, attributes: attributes, created: created)
    }

    mutating func close(_ handle: HandleID, session: SessionID) throws(MetadataError) -> OperationOutcome {
        guard let open = handles[handle] else { throw MetadataError(.ebadf, "handle \(handle) is not open") }
        guard open.session == session else {
            throw MetadataError(.ebadf, "handle \(handle) belongs to session \(open.session), not \(session)")
        }
        releaseHandle(handle)
        return .done
    }
}
