import AlmanacPotentialEntries
// Snapshot codec: the whole state, canonically ordered, so equal states encode to equal bytes.
//
//   snapshot = "ALMD" version(1) body checksum(8 bytes little-endian FNV-1a 64 of everything before)
//   body     = config(shardID segmentCount limits...) appliedIndex clock migrationTimestamp nextHandle
//              nextSessionSweep ownership(epoch runs) segmentCounters(sorted) inodes(sorted by id; a
//              directory's entries carry the child's type) sessions(sorted by id) handles(sorted by id)
//              preparedTransactions(sorted) decisions(sorted)
//              [version 3, only when there is potential-entry state:] lastPotentialSweep potentials(sorted by id: id session reserved(0 none)
//              issuedAt expiresAt operation)

enum SnapshotFormat {
    static let magic: [UInt8] = [0x41, 0x4C, 0x4D, 0x44]  // "ALMD"
    static let version: UInt8 = 2
    /// Written when the state has potential entries (or swept some): version 2 plus their section.
    static let versionWithPotentials: UInt8 = 3
    /// Written when the state has segment hand-off state: version 3 plus the hand-off section.
    static let versionWithHandoffs: UInt8 = 4
}

extension MetadataStateMachine {
    /// The canonical snapshot of the whole state (namespace, sessions with their cached
    /// results, handles, counters, configuration and applied index).
    public func snapshot() -> [UInt8] {
        var writer = BinaryWriter(capacity: 64 + inodeCount * 64)
        writer.raw(SnapshotFormat.magic)
        writer.byte(hasHandoffState ? SnapshotFormat.versionWithHandoffs
            : hasPotentialState ? SnapshotFormat.versionWithPotentials : SnapshotFormat.version)
        encodeBody(to: &writer)
        let checksum = StateDigest(of: writer.bytes).value
        writer.littleEndian(checksum)
        return writer.bytes
    }

    /// A stable digest of the state, equal on replicas that applied the same entries.
    public var digest: StateDigest {
        var writer = BinaryWriter(capacity: 64 + inodeCount * 64)
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
        let version = try reader.header(magic: SnapshotFormat.magic, kind: "metadata snapshot", supported: 2...4)
        let bodyEnd = bytes.count - 8
        var checksumReader = BinaryReader(Array(bytes[bodyEnd...]))
        guard try checksumReader.littleEndian64() == StateDigest(of: bytes[..<bodyEnd]).value else {
            throw .checksumMismatch
        }
        var body = BinaryReader(Array(bytes[..<bodyEnd]))
        _ = try body.raw(SnapshotFormat.magic.count + 1)
        self = try MetadataStateMachine.decodeBody(from: &body, version: version)
        try body.finish()
    }

    /// Whether the snapshot carries the potential-entry section (states that never saw one encode
    /// exactly as before it existed).
    private var hasPotentialState: Bool { !potentials.isEmpty || potentials.lastSweep != 0 }

    private func encodeBody(to writer: inout BinaryWriter) {
        writer.varint(config.shardID)
        writer.varint(UInt64(config.keying.segmentCount))
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
        writer.varint(nextHandle)
        writer.timestamp(nextSessionSweep)

        writer.varint(ownership.epoch)
        let owned = ownership.segments
        var runs: [(SegmentID, SegmentID)] = []
        for segment in owned {
            if let last = runs.last, last.1 &+ 1 == segment { runs[runs.count - 1].1 = segment } else { runs.append((segment, segment)) }
        }
        writer.varint(UInt64(runs.count))
        for (first, last) in runs {
            writer.varint(first)
            writer.varint(last)
        }
        writer.varint(UInt64(segmentCounters.count))
        for segment in segmentCounters.keys.sorted() {
            writer.varint(segment)
            writer.varint(segmentCounters[segment] ?? 1)
        }

        writer.varint(UInt64(inodes.count))
        for id in inodes.keys.sorted() {
            guard let node = inodes[id] else { continue }
            node.attributes.encode(to: &writer)
            switch node.type {
            case .directory:
                writer.varint(node.parent.rawValue)
                writer.varint(UInt64(node.entries.count))
                node.entries.forEachEntry { name, entry in
                    writer.string(utf8: name)
                    writer.varint(entry.child.rawValue)
                    writer.byte(entry.type.rawValue)
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

        writer.varint(UInt64(preparedTransactions.count))
        for id in preparedTransactions.keys.sorted() {
            guard let transaction = preparedTransactions[id] else { continue }
            id.encode(to: &writer)
            writer.timestamp(transaction.preparedAt)
            writer.varint(UInt64(transaction.steps.count))
            for step in transaction.steps { step.encode(to: &writer) }
            writer.varint(UInt64(transaction.allocated.count))
            for allocated in transaction.allocated { writer.varint(allocated.rawValue) }
        }
        writer.varint(UInt64(decisions.count))
        for id in decisions.keys.sorted() {
            id.encode(to: &writer)
            writer.byte(decisions[id]?.rawValue ?? 0)
        }
        guard hasPotentialState || hasHandoffState else { return }
        writer.timestamp(Timestamp(nanoseconds: potentials.lastSweep))
        writer.varint(UInt64(potentials.count))
        for potential in potentials.sortedByID {
            writer.varint(potential.id)
            writer.varint(potential.session)
            writer.varint(potential.prepared.reserved?.rawValue ?? 0)
            writer.timestamp(Timestamp(nanoseconds: potential.issuedAt))
            writer.timestamp(Timestamp(nanoseconds: potential.expiresAt))
            potential.prepared.operation.encode(to: &writer)
        }
        if hasHandoffState { encodeHandoffSection(to: &writer) }
    }

    private static func decodeBody(from reader: inout BinaryReader, version: UInt8) throws(CodecError) -> MetadataStateMachine {
        let shardID = try reader.varint16("shard id")
        let keying: SegmentKeying
        let segmentCount = try reader.varint()
        do throws(KeyspaceError) { keying = try SegmentKeying(segmentCount: Int(clamping: segmentCount)) } catch {
            throw .inconsistent(error.description)
        }
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
            shardID: shardID, keying: keying, limits: limits, sessionTimeoutNanoseconds: timeout, sessionResultWindow: window))
        state.appliedIndex = try reader.varint()
        state.clock = try reader.timestamp()
        state.migrationTimestamp = try reader.varint()
        state.nextHandle = try reader.varint()
        state.nextSessionSweep = try reader.timestamp()

        let epoch = try reader.varint()
        var owned: [SegmentID] = []
        let runCount = try reader.count("ownership run count")
        for _ in 0..<runCount {
            let first = try reader.varint16("segment")
            let last = try reader.varint16("segment")
            guard first <= last, Int(last) < keying.segmentCount, owned.last.map({ $0 < first }) ?? true else {
                throw .inconsistent("owned segment run \(first)...\(last) is out of order or outside the keying")
            }
            owned.append(contentsOf: first...last)
        }
        state.ownership = SegmentOwnership(keying: keying, owned: owned, epoch: epoch)
        state.segmentCounters = [:]
        let counterCount = try reader.count("segment counter count")
        for _ in 0..<counterCount {
            let segment = try reader.varint16("segment")
            guard state.segmentCounters.updateValue(try reader.varint(), forKey: segment) == nil else {
                throw .inconsistent("segment \(segment) has two counters")
            }
        }

        state.inodes = InodeTable()
        let inodeCount = try reader.count("inode count")
        // At least 11 bytes encode an inode: a bad count cannot reserve more than the input justifies.
        state.inodes.reserveCapacity(min(inodeCount, reader.remaining / 11))
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
                var pairs: [(ByteString, InodeID, FileType)] = []
                pairs.reserveCapacity(entryCount)
                for _ in 0..<entryCount {
                    let name = try reader.string("entry name")
                    if let error = Validation.name(name, limits: limits) { throw .inconsistent("entry name: \(error.message)") }
                    let child = InodeID(try reader.varint())
                    let typeTag = try reader.byte()
                    guard let type = FileType(rawValue: typeTag) else { throw .unknownTag(field: "entry type", value: UInt64(typeTag)) }
                    pairs.append((name, child, type))
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

        let preparedCount = try reader.count("prepared transaction count")
        for _ in 0..<preparedCount {
            let id = try TransactionID.decode(from: &reader)
            let preparedAt = try reader.timestamp()
            let stepCount = try reader.count("step count")
            var steps: [TransactionStep] = []
            for _ in 0..<stepCount { steps.append(try TransactionStep.decode(from: &reader)) }
            let allocatedCount = try reader.count("allocated count")
            var allocated: [InodeID] = []
            for _ in 0..<allocatedCount { allocated.append(InodeID(try reader.varint())) }
            guard state.preparedTransactions[id] == nil else { throw .inconsistent("\(id) is prepared twice") }
            state.preparedTransactions[id] = PreparedTransaction(id: id, steps: steps, allocated: allocated, preparedAt: preparedAt)
            for step in steps { for record in step.touched { state.locks[record] = id } }
            for record in allocated { state.locks[record] = id }
        }
        let decisionCount = try reader.count("decision count")
        for _ in 0..<decisionCount {
            let id = try TransactionID.decode(from: &reader)
            let tag = try reader.byte()
            guard let decision = TransactionDecision(rawValue: tag) else { throw .unknownTag(field: "decision", value: UInt64(tag)) }
            state.decisions[id] = decision
        }
        if version >= 3 {
            let lastSweep = try reader.timestamp()
            let potentialCount = try reader.count("potential entry count")
            var restored: [PendingPotential<PreparedPotential>] = []
            var ids = Set<UInt64>()
            for _ in 0..<potentialCount {
                let id = try reader.varint()
                let session = try reader.varint()
                let reserved = try reader.varint()
                let issuedAt = try reader.timestamp()
                let expiresAt = try reader.timestamp()
                let operation = try MetadataOperation.decode(from: &reader)
                guard operation.isPredictable, state.sessions[session] != nil, ids.insert(id).inserted else {
                    throw .inconsistent("potential entry \(id) is malformed, duplicated or of an unknown session")
                }
                let prepared = PreparedPotential(operation: operation, reserved: reserved == 0 ? nil : InodeID(reserved))
                restored.append(PendingPotential(id: id, session: session, tag: operation.potentialTag, issuedAt: issuedAt.nanoseconds,
                                                 expiresAt: expiresAt.nanoseconds, prepared: prepared))
            }
            do throws(PotentialRefusal) {
                state.potentials = try PendingPotentials(capacity: MetadataStateMachine.maxPendingPotentials,
                                                         lastSweep: lastSweep.nanoseconds, entries: restored)
            } catch {
                throw .inconsistent("potential entries: \(error)")
            }
        }
        if version >= 4 { try state.decodeHandoffSection(from: &reader) }
        try state.checkInvariants()
        return state
    }

    /// Structural invariants every restored state must satisfy. Records of other shards are out of
    /// sight, so cross-record checks apply where both ends are local; link counts of non-directories
    /// are checked exactly only when this shard owns every segment.
    func checkInvariants() throws(CodecError) {
        if ownership.owns(InodeID.root) {
            guard let root = inodes[.root], root.isDirectory, root.parent == .root, !root.isOrphan else {
                throw .inconsistent("the root directory is missing or malformed")
            }
        }
        // Per segment, the allocation counter (an array: one lookup per inode without hashing).
        let counters = (0..<config.keying.segmentCount).map { nextCounter(SegmentID($0)) }
        // With every segment here, the entries and the inodes must name each other exactly (link
        // counts included): checked by two multiset sums in sequential passes (``ReferenceMultiset``),
        // and only on a mismatch by the exact, lookup-per-entry check that names the culprit.
        // Otherwise each entry naming a local inode is checked by looking it up.
        let everything = ownership.ownsEverything
        var named = ReferenceMultiset()
        var linked = ReferenceMultiset()
        for node in inodes.values {
            guard ownership.owns(node.id) else { throw .inconsistent("inode \(node.id) lies in segment \(node.id.segment), not owned here") }
            if node.isDirectory && !node.isOrphan && isLocal(node.parent) {
                guard let parent = inodes[node.parent], parent.isDirectory else {
                    throw .inconsistent("directory \(node.id) has no parent directory \(node.parent)")
                }
            }
            if node.isOrphan && openCounts[node.id] == nil {
                throw .inconsistent("inode \(node.id) has no links and no open handles")
            }
            if node.id != .root && node.id.counter >= counters[Int(node.id.segment)] {
                throw .inconsistent("inode \(node.id) is not below its segment's allocation counter")
            }
            if everything {
                node.entries.forEachEntry { _, entry in
                    named.add(entry.child, type: entry.type, parent: entry.type == .directory ? node.id : nil)
                }
                linked.add(node.id, type: node.type, parent: node.isDirectory ? node.parent : nil, times: expectedReferences(node))
            } else {
                try checkEntries(of: node)
            }
            if node.isDirectory && !node.isOrphan && UInt64(node.attributes.nlink) != 2 + UInt64(node.entries.subdirectoryCount) {
                throw .inconsistent("directory \(node.id) has nlink \(node.attributes.nlink) but \(node.entries.subdirectoryCount) subdirectories")
            }
        }
        if everything && named != linked {
            try checkReferencesExactly()
            throw .inconsistent("the directory entries and the inodes' link counts disagree")
        }
        for handle in handles.values {
            guard sessions[handle.session] != nil, handle.id < nextHandle else {
                throw .inconsistent("handle \(handle.id) refers to a missing session")
            }
            if isLocal(handle.inode) && inodes[handle.inode] == nil {
                throw .inconsistent("handle \(handle.id) refers to a missing inode")
            }
        }
    }

    /// How many entries must name `node` when every segment is here.
    private func expectedReferences(_ node: Inode) -> UInt64 {
        node.isDirectory ? (node.id == .root || node.isOrphan ? 0 : 1) : UInt64(node.attributes.nlink)
    }

    /// Each entry of `node` naming a local inode names one of the entry's type (a directory whose
    /// parent is `node`).
    private func checkEntries(of node: Inode) throws(CodecError) {
        try node.entries.forEachEntry { (bytes, entry) throws(CodecError) in
            let (child, type) = (entry.child, entry.type)
            guard isLocal(child) else { return }
            var name: ByteString { ByteString(String(decoding: bytes, as: UTF8.self)) }  // made only for a message
            guard let target = inodes[child] else { throw .inconsistent("entry \"\(name)\" of \(node.id) names a missing inode") }
            guard target.type == type else { throw .inconsistent("entry \"\(name)\" of \(node.id) records the wrong type") }
            if target.isDirectory && target.parent != node.id {
                throw .inconsistent("directory \(child) is listed in \(node.id) but its parent is \(target.parent)")
            }
        }
    }

    /// The exact form of the multiset check, when every segment is here: every entry's target, and
    /// every inode's count of entries naming it against its link count. Throws at the first difference.
    private func checkReferencesExactly() throws(CodecError) {
        var references: [InodeID: UInt64] = [:]
        references.reserveCapacity(inodes.count)
        for node in inodes.values {
            try checkEntries(of: node)
            node.entries.forEachEntry { _, entry in references[entry.child, default: 0] += 1 }
        }
        for node in inodes.values where references[node.id, default: 0] != expectedReferences(node) {
            throw .inconsistent("inode \(node.id) has nlink \(node.attributes.nlink) but \(references[node.id, default: 0]) entries")
        }
    }
}
