// Snapshot codec: the whole state, canonically ordered, so equal states encode to equal bytes.
//
//   snapshot = "ALMD" version(1) body checksum(8 bytes little-endian FNV-1a 64 of everything before)
//   body     = config appliedIndex clock migrationTimestamp nextInodeCounter nextHandle nextSessionSweep
//              inodes(sorted by id) sessions(sorted by id) handles(sorted by id)

enum SnapshotFormat {
    static let magic: [UInt8] = [0x41, 0x4C, 0x4D, 0x44]  // "ALMD"
    static let version: UInt8 = 1
}

extension MetadataStateMachine {
    /// The canonical snapshot of the whole state (namespace, sessions with their cached
    /// results, handles, counters, configuration and applied index).
    public func snapshot() -> [UInt8] {
        var writer = BinaryWriter(capacity: 64 + inodes.count * 64)
        writer.raw(SnapshotFormat.magic)
        writer.byte(SnapshotFormat.version)
        encodeBody(to: &writer)
        let checksum = StateDigest(of: writer.bytes).value
        writer.littleEndian(checksum)
        return writer.bytes
    }

    /// A stable digest of the state, equal on replicas that applied the same entries.
    public var digest: StateDigest {
        var writer = BinaryWriter(capacity: 64 + inodes.count * 64)
        encodeBody(to: &writer)
        return StateDigest(of: writer.bytes)
    }

    /// Restores a state from ``snapshot()`` bytes, checking the checksum and the structural
    /// invariants (every entry names an existing inode, parents exist, handles name live
    /// sessions and inodes, counters are ahead of every allocated id).
    public init(restoringFrom bytes: [UInt8]) throws(CodecError) {
        guard bytes.count >= SnapshotFormat.magic.count + 1 + 8 else {
            throw .truncated(offset: bytes.count, needed: SnapshotFormat.magic.count + 9 - bytes.count)
        }
        var reader = BinaryReader(bytes)
        _ = try reader.header(magic: SnapshotFormat.magic, kind: "metadata snapshot", supported: 1...1)
        let bodyEnd = bytes.count - 8
        var checksumReader = BinaryReader(Array(bytes[bodyEnd...]))
        guard try checksumReader.littleEndian64() == StateDigest(of: bytes[..<bodyEnd]).value else {
            throw .checksumMismatch
        }
        var body = BinaryReader(Array(bytes[..<bodyEnd]))
        _ = try body.raw(SnapshotFormat.magic.count + 1)
        self = try MetadataStateMachine.decodeBody(from: &body)
        try body.finish()
    }

    private func encodeBody(to writer: inout BinaryWriter) {
        writer.varint(config.shardID)
        writer.varint(UInt64(config.limits.maxNameBytes))
        writer.varint(UInt64(config.limits.maxSymlinkTargetBytes))
        writer.varint(UInt64(config.limits.maxRequestBytes))
        writer.varint(config.limits.maxLinks)
        writer.varint(UInt64(config.limits.maxReaddirPage))
        writer.signed(config.sessionTimeoutNanoseconds)
        writer.varint(config.sessionResultWindow)

        writer.varint(appliedIndex)
        writer.timestamp(clock)
        writer.varint(migrationTimestamp)
        writer.varint(nextInodeCounter)
        writer.varint(nextHandle)
        writer.timestamp(nextSessionSweep)

        writer.varint(UInt64(inodes.count))
        for id in inodes.keys.sorted() {
            guard let node = inodes[id] else { continue }
            node.attributes.encode(to: &writer)
            switch node.type {
            case .directory:
                writer.varint(node.parent.rawValue)
                writer.varint(UInt64(node.entries.count))
                for name in node.entries.sortedNames {
                    writer.string(name)
                    writer.varint(node.entries[name]?.rawValue ?? 0)
                }
            case .symlink:
                writer.string(node.symlinkTarget ?? "")
            case .regular:
                break
            }
        }

        writer.varint(UInt64(sessions.count))
        for id in sessions.keys.sorted() {
            guard let session = sessions[id] else { continue }
            writer.varint(session.id)
            writer.timestamp(session.lastActive)
            writer.varint(session.highestSequence)
            writer.varint(UInt64(session.results.count))
            for sequence in session.results.keys.sorted() {
                writer.varint(sequence)
                session.results[sequence]?.encodeBody(to: &writer)
            }
        }

        writer.varint(UInt64(handles.count))
        for id in handles.keys.sorted() {
            guard let handle = handles[id] else { continue }
            writer.varint(handle.id)
            writer.varint(handle.session)
            writer.varint(handle.inode.rawValue)
            writer.byte(handle.access.rawValue)
        }
    }

    private static func decodeBody(from reader: inout BinaryReader) throws(CodecError) -> MetadataStateMachine {
        let shardID = try reader.varint16("shard id")
        let limits = MetadataLimits(
            maxNameBytes: Int(try reader.varint32("maxNameBytes")),
            maxSymlinkTargetBytes: Int(try reader.varint32("maxSymlinkTargetBytes")),
            maxRequestBytes: Int(try reader.varint32("maxRequestBytes")),
            maxLinks: try reader.varint32("maxLinks"),
            maxReaddirPage: Int(try reader.varint32("maxReaddirPage")))
        let timeout = try reader.signed()
        let window = try reader.varint()
        guard timeout >= 1 else { throw .inconsistent("session timeout \(timeout) is not positive") }
        guard window >= 1 else { throw .inconsistent("session result window is 0") }
        var state = MetadataStateMachine(config: MetadataConfig(
            shardID: shardID, limits: limits, sessionTimeoutNanoseconds: timeout, sessionResultWindow: window))
        state.appliedIndex = try reader.varint()
        state.clock = try reader.timestamp()
        state.migrationTimestamp = try reader.varint()
        state.nextInodeCounter = try reader.varint()
        state.nextHandle = try reader.varint()
        state.nextSessionSweep = try reader.timestamp()

        state.inodes = [:]
        let inodeCount = try reader.count("inode count")
        var previous: InodeID?
        for _ in 0..<inodeCount {
            let attributes = try InodeAttributes.decode(from: &reader)
            if let previous, !(previous < attributes.id) { throw .inconsistent("inode ids are not strictly ascending") }
            previous = attributes.id
            var node = Inode(attributes: attributes, parent: InodeID(0), entries: DirectoryEntries(), symlinkTarget: nil)
            switch attributes.type {
            case .directory:
                node.parent = InodeID(try reader.varint())
                let entryCount = try reader.count("entry count")
                var pairs: [(ByteString, InodeID)] = []
                pairs.reserveCapacity(entryCount)
                for _ in 0..<entryCount {
                    let name = try reader.string("entry name")
                    if let error = Validation.name(name, limits: limits) { throw .inconsistent("entry name: \(error.message)") }
                    pairs.append((name, InodeID(try reader.varint())))
                }
                guard let entries = DirectoryEntries.fromSorted(pairs) else {
                    throw .inconsistent("entries of \(attributes.id) are not in strictly ascending order")
                }
                node.entries = entries
            case .symlink:
                node.symlinkTarget = try reader.string("symlink target")
            case .regular:
                break
            }
            state.inodes[attributes.id] = node
        }

        let sessionCount = try reader.count("session count")
        var previousSession: SessionID?
        for _ in 0..<sessionCount {
            var session = ClientSession(id: try reader.varint(), lastActive: try reader.timestamp())
            if let previousSession, previousSession >= session.id { throw .inconsistent("session ids are not ascending") }
            previousSession = session.id
            session.highestSequence = try reader.varint()
            let resultCount = try reader.count("result count")
            for _ in 0..<resultCount {
                let sequence = try reader.varint()
                guard session.results[sequence] == nil else { throw .inconsistent("duplicate cached sequence") }
                session.results[sequence] = try CommandResult.decodeBody(from: &reader)
            }
            state.sessions[session.id] = session
        }

        let handleCount = try reader.count("handle count")
        var previousHandle: HandleID?
        for _ in 0..<handleCount {
            let id = try reader.varint()
            if let previousHandle, previousHandle >= id { throw .inconsistent("handle ids are not ascending") }
            previousHandle = id
            let session = try reader.varint()
            let inode = InodeID(try reader.varint())
            let accessTag = try reader.byte()
            guard let access = OpenFlags.Access(rawValue: accessTag) else {
                throw .unknownTag(field: "handle access", value: UInt64(accessTag))
            }
            state.handles[id] = OpenHandle(id: id, session: session, inode: inode, access: access)
            state.openCounts[inode, default: 0] += 1
        }
        try state.checkInvariants()
        return state
    }

    /// Structural invariants every restored state must satisfy.
    func checkInvariants() throws(CodecError) {
        guard let root = inodes[.root], root.isDirectory, root.parent == .root, !root.isOrphan else {
            throw .inconsistent("the root directory is missing or malformed")
        }
        for node in inodes.values {
            if node.isDirectory && !node.isOrphan {
                guard let parent = inodes[node.parent], parent.isDirectory else {
                    throw .inconsistent("directory \(node.id) has no parent directory \(node.parent)")
                }
            }
            if node.isOrphan && openCounts[node.id] == nil {
                throw .inconsistent("inode \(node.id) has no links and no open handles")
            }
            if node.id.shard == config.shardID && node.id != .root && node.id.counter >= nextInodeCounter {
                throw .inconsistent("inode \(node.id) is not below the allocation counter")
            }
            for name in node.entries.sortedNames {
                guard let child = node.entries[name], inodes[child] != nil else {
                    throw .inconsistent("entry \"\(name)\" of \(node.id) names a missing inode")
                }
            }
        }
        // Link counts must match the entries, so later nlink arithmetic cannot underflow.
        var references: [InodeID: UInt64] = [:]
        var subdirectories: [InodeID: UInt64] = [:]
        for node in inodes.values {
            for name in node.entries.sortedNames {
                guard let child = node.entries[name], let target = inodes[child] else { continue }
                references[child, default: 0] += 1
                if target.isDirectory {
                    guard target.parent == node.id else {
                        throw .inconsistent("directory \(child) is listed in \(node.id) but its parent is \(target.parent)")
                    }
                    subdirectories[node.id, default: 0] += 1
                }
            }
        }
        for node in inodes.values {
            let links = UInt64(node.attributes.nlink)
            if node.isDirectory {
                let expectedReferences: UInt64 = node.id == .root || node.isOrphan ? 0 : 1
                let expectedLinks = node.isOrphan ? 0 : 2 + (subdirectories[node.id] ?? 0)
                guard references[node.id, default: 0] == expectedReferences, links == expectedLinks else {
                    throw .inconsistent("directory \(node.id) has nlink \(links) or a wrong number of entries naming it")
                }
            } else if links != references[node.id, default: 0] {
                throw .inconsistent("inode \(node.id) has nlink \(links) but \(references[node.id, default: 0]) entries")
            }
        }
        for handle in handles.values {
            guard sessions[handle.session] != nil, inodes[handle.inode] != nil, handle.id < nextHandle else {
                throw .inconsistent("handle \(handle.id) refers to a missing session or inode")
            }
        }
    }
}
