// The journal entry codec: envelopes and results.
//
// Layout (all integers LEB128 varints unless noted, signed ones zigzag-encoded, strings as
// length + UTF-8 bytes; see docs/metadata.md for the full table):
//   envelope = 'E' version(1) shardID migrationTimestamp sessionID sequence time(signed) operation
//   result   = 'R' version(1) (0 outcome | 1 errorCode message)

enum JournalFormat {
    static let envelopeMagic: [UInt8] = [0x45]  // "E"
    static let resultMagic: [UInt8] = [0x52]  // "R"
    static let version: UInt8 = 1
}

extension CommandEnvelope {
    /// The canonical journal encoding of this envelope.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.raw(JournalFormat.envelopeMagic)
        writer.byte(JournalFormat.version)
        writer.varint(shardID)
        writer.varint(migrationTimestamp)
        writer.varint(sessionID)
        writer.varint(sequence)
        writer.timestamp(time)
        operation.encode(to: &writer)
        return writer.bytes
    }

    /// Decodes a journal entry, refusing inputs over `maxBytes`.
    public init(decoding bytes: [UInt8], maxBytes: Int = MetadataLimits().maxRequestBytes) throws(CodecError) {
        guard bytes.count <= maxBytes else { throw .tooLarge(size: bytes.count, limit: maxBytes) }
        var reader = BinaryReader(bytes)
        _ = try reader.header(magic: JournalFormat.envelopeMagic, kind: "journal entry", supported: 1...1)
        let shardID = try reader.varint16("shard id")
        let migrationTimestamp = try reader.varint()
        let sessionID = try reader.varint()
        let sequence = try reader.varint()
        let time = try reader.timestamp()
        let operation = try MetadataOperation.decode(from: &reader)
        try reader.finish()
        self.init(
            shardID: shardID, migrationTimestamp: migrationTimestamp, sessionID: sessionID, sequence: sequence,
            time: time, operation: operation)
    }
}

extension MetadataOperation {
    func encode(to writer: inout BinaryWriter) {
        if encodeTransactionProtocol(to: &writer) { return }
        if encodeHandoffProtocol(to: &writer) { return }
        switch self {
        case .registerSession:
            writer.byte(1)
        case .keepAlive:
            writer.byte(2)
        case .closeSession:
            writer.byte(3)
        case let .mkdir(parent, name, mode, uid, gid):
            writer.byte(4)
            writer.varint(parent.rawValue)
            writer.string(name)
            writer.varint(mode)
            writer.varint(uid)
            writer.varint(gid)
        case let .create(parent, name, mode, uid, gid):
            writer.byte(5)
            writer.varint(parent.rawValue)
            writer.string(name)
            writer.varint(mode)
            writer.varint(uid)
            writer.varint(gid)
        case let .setattr(id, changes):
            writer.byte(6)
            writer.varint(id.rawValue)
            changes.encode(to: &writer)
        case let .rename(fromParent, fromName, toParent, toName):
            writer.byte(7)
            writer.varint(fromParent.rawValue)
            writer.string(fromName)
            writer.varint(toParent.rawValue)
            writer.string(toName)
        case let .unlink(parent, name):
            writer.byte(8)
            writer.varint(parent.rawValue)
            writer.string(name)
        case let .rmdir(parent, name):
            writer.byte(9)
            writer.varint(parent.rawValue)
            writer.string(name)
        case let .open(parent, name, flags, mode, uid, gid):
            writer.byte(10)
            writer.varint(parent.rawValue)
            writer.string(name)
            writer.byte(flags.bits)
            writer.varint(mode)
            writer.varint(uid)
            writer.varint(gid)
        case let .close(handle):
            writer.byte(11)
            writer.varint(handle)
        case let .link(target, parent, name):
            writer.byte(12)
            writer.varint(target.rawValue)
            writer.varint(parent.rawValue)
            writer.string(name)
        case let .symlink(parent, name, target, uid, gid):
            writer.byte(13)
            writer.varint(parent.rawValue)
            writer.string(name)
            writer.string(target)
            writer.varint(uid)
            writer.varint(gid)
        case let .issuePotential(operation, expiresAt):
            writer.byte(60)
            writer.timestamp(expiresAt)
            operation.encode(to: &writer)
        case let .confirmPotential(tag):
            writer.byte(61)
            writer.littleEndian(tag)
        case let .expirePotential(ids):
            writer.byte(62)
            writer.varint(UInt64(ids.count))
            for id in ids { writer.varint(id) }
        case .prepareTransaction, .commitTransaction, .abortTransaction, .commitDecision, .abortDecision, .forgetDecision,
            .recordRefusal, .freezeSegments, .exportSegments, .thawSegments, .releaseSegments, .stageSegments, .activateSegments, .abortImport:
            break  // encoded above
        }
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> MetadataOperation {
        let tag = try reader.byte()
        switch tag {
        case 1: return .registerSession
        case 2: return .keepAlive
        case 3: return .closeSession
        case 4, 5:
            let parent = InodeID(try reader.varint())
            let name = try reader.string("name")
            let mode = try reader.varint32("mode")
            let uid = try reader.varint32("uid")
            let gid = try reader.varint32("gid")
            return tag == 4
                ? .mkdir(parent: parent, name: name, mode: mode, uid: uid, gid: gid)
                : .create(parent: parent, name: name, mode: mode, uid: uid, gid: gid)
        case 6:
            let id = InodeID(try reader.varint())
            return .setattr(id: id, changes: try SetAttributes.decode(from: &reader))
        case 7:
            let fromParent = InodeID(try reader.varint())
            let fromName = try reader.string("name")
            let toParent = InodeID(try reader.varint())
            let toName = try reader.string("name")
            return .rename(fromParent: fromParent, fromName: fromName, toParent: toParent, toName: toName)
        case 8, 9:
            let parent = InodeID(try reader.varint())
            let name = try reader.string("name")
            return tag == 8 ? .unlink(parent: parent, name: name) : .rmdir(parent: parent, name: name)
        case 10:
            let parent = InodeID(try reader.varint())
            let name = try reader.string("name")
            let flags = try OpenFlags(bits: try reader.byte())
            let mode = try reader.varint32("mode")
            let uid = try reader.varint32("uid")
            let gid = try reader.varint32("gid")
            return .open(parent: parent, name: name, flags: flags, mode: mode, uid: uid, gid: gid)
        case 11:
            return .close(handle: try reader.varint())
        case 12:
            let target = InodeID(try reader.varint())
            let parent = InodeID(try reader.varint())
            let name = try reader.string("name")
            return .link(target: target, parent: parent, name: name)
        case 13:
            let parent = InodeID(try reader.varint())
            let name = try reader.string("name")
            let target = try reader.string("symlink target")
            let uid = try reader.varint32("uid")
            let gid = try reader.varint32("gid")
            return .symlink(parent: parent, name: name, target: target, uid: uid, gid: gid)
        case 14...19:
            return try decodeTransactionProtocol(tag: tag, from: &reader)
        case 20...26:
            return try decodeHandoffProtocol(tag: tag, from: &reader)
        case 27:
            return try decodeRefusal(from: &reader)
        case 60:
            let expiresAt = try reader.timestamp()
            let operation = try MetadataOperation.decode(from: &reader)
            guard operation.isPredictable else { throw .unknownTag(field: "potential operation", value: 60) }
            return .issuePotential(operation: operation, expiresAt: expiresAt)
        case 61:
            return .confirmPotential(tag: try reader.littleEndian64())
        case 62:
            let count = try reader.count("potential id count")
            var ids: [UInt64] = []
            for _ in 0..<count { ids.append(try reader.varint()) }
            return .expirePotential(ids: ids)
        default:
            throw .unknownTag(field: "operation", value: UInt64(tag))
        }
    }
}

extension SetAttributes {
    // Presence bits: mode, uid, gid, size, atime, mtime.
    func encode(to writer: inout BinaryWriter) {
        var present: UInt8 = 0
        if mode != nil { present |= 1 }
        if uid != nil { present |= 2 }
        if gid != nil { present |= 4 }
        if size != nil { present |= 8 }
        if atime != nil { present |= 16 }
        if mtime != nil { present |= 32 }
        writer.byte(present)
        if let mode { writer.varint(mode) }
        if let uid { writer.varint(uid) }
        if let gid { writer.varint(gid) }
        if let size { writer.varint(size) }
        if let atime { atime.encode(to: &writer) }
        if let mtime { mtime.encode(to: &writer) }
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> SetAttributes {
        let present = try reader.byte()
        guard present & ~0x3F == 0 else { throw .unknownTag(field: "setattr presence", value: UInt64(present)) }
        var changes = SetAttributes()
        if present & 1 != 0 { changes.mode = try reader.varint32("mode") }
        if present & 2 != 0 { changes.uid = try reader.varint32("uid") }
        if present & 4 != 0 { changes.gid = try reader.varint32("gid") }
        if present & 8 != 0 { changes.size = try reader.varint() }
        if present & 16 != 0 { changes.atime = try TimeUpdate.decode(from: &reader) }
        if present & 32 != 0 { changes.mtime = try TimeUpdate.decode(from: &reader) }
        return changes
    }
}

extension TimeUpdate {
    func encode(to writer: inout BinaryWriter) {
        switch self {
        case .now: writer.byte(0)
        case .set(let time):
            writer.byte(1)
            writer.timestamp(time)
        }
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> TimeUpdate {
        switch try reader.byte() {
        case 0: return .now
        case 1: return .set(try reader.timestamp())
        case let other: throw .unknownTag(field: "time update", value: UInt64(other))
        }
    }
}

extension OpenFlags {
    // Bits 0-1: access; bit 2: create; bit 3: exclusive; bit 4: truncate.
    var bits: UInt8 {
        access.rawValue | (create ? 4 : 0) | (exclusive ? 8 : 0) | (truncate ? 16 : 0)
    }

    init(bits: UInt8) throws(CodecError) {
        guard bits & ~0x1F == 0, let access = Access(rawValue: bits & 3) else {
            throw .unknownTag(field: "open flags", value: UInt64(bits))
        }
        self.init(access: access, create: bits & 4 != 0, exclusive: bits & 8 != 0, truncate: bits & 16 != 0)
    }
}

extension InodeAttributes {
    func encode(to writer: inout BinaryWriter) {
        writer.varint(id.rawValue)
        writer.byte(type.rawValue)
        writer.varint(mode)
        writer.varint(uid)
        writer.varint(gid)
        writer.varint(size)
        writer.varint(nlink)
        writer.timestamp(atime)
        writer.timestamp(mtime)
        writer.timestamp(ctime)
        writer.varint(version)
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> InodeAttributes {
        let id = InodeID(try reader.varint())
        let typeTag = try reader.byte()
        guard let type = FileType(rawValue: typeTag) else { throw .unknownTag(field: "file type", value: UInt64(typeTag)) }
        let mode = try reader.varint32("mode")
        guard mode & ~FileType.permissionMask == 0 else { throw .valueOutOfRange(field: "mode", value: UInt64(mode)) }
        return InodeAttributes(
            id: id, type: type, mode: mode, uid: try reader.varint32("uid"), gid: try reader.varint32("gid"),
            size: try reader.varint(), nlink: try reader.varint32("nlink"), atime: try reader.timestamp(),
            mtime: try reader.timestamp(), ctime: try reader.timestamp(), version: try reader.varint())
    }
}

extension CommandResult {
    /// The canonical encoding of this result (for answering clients and caching).
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.raw(JournalFormat.resultMagic)
        writer.byte(JournalFormat.version)
        encodeBody(to: &writer)
        return writer.bytes
    }

    /// Decodes a result.
    public init(decoding bytes: [UInt8]) throws(CodecError) {
        var reader = BinaryReader(bytes)
        _ = try reader.header(magic: JournalFormat.resultMagic, kind: "command result", supported: 1...1)
        self = try CommandResult.decodeBody(from: &reader)
        try reader.finish()
    }

    func encodeBody(to writer: inout BinaryWriter) {
        switch self {
        case .success(let outcome):
            writer.byte(0)
            switch outcome {
            case .sessionRegistered(let id):
                writer.byte(1)
                writer.varint(id)
            case .attributes(let attributes):
                writer.byte(2)
                attributes.encode(to: &writer)
            case let .opened(handle, attributes, created):
                writer.byte(3)
                writer.varint(handle)
                attributes.encode(to: &writer)
                writer.bool(created)
            case .done:
                writer.byte(4)
            case .prepared(let allocated):
                writer.byte(5)
                writer.varint(UInt64(allocated.count))
                for id in allocated { writer.varint(id.rawValue) }
            case .handoffFrozen(let summary):
                writer.byte(6)
                summary.encode(to: &writer)
            case .exportPage(let page):
                writer.byte(7)
                page.encode(to: &writer)
            }
        case .failure(let error):
            writer.byte(1)
            writer.varint(error.code.rawValue)
            writer.string(error.message)
        }
    }

    static func decodeBody(from reader: inout BinaryReader) throws(CodecError) -> CommandResult {
        switch try reader.byte() {
        case 0:
            let tag = try reader.byte()
            switch tag {
            case 1: return .success(.sessionRegistered(try reader.varint()))
            case 2: return .success(.attributes(try InodeAttributes.decode(from: &reader)))
            case 3:
                let handle = try reader.varint()
                let attributes = try InodeAttributes.decode(from: &reader)
                return .success(.opened(handle: handle, attributes: attributes, created: try reader.bool("created")))
            case 4: return .success(.done)
            case 5:
                let count = try reader.count("allocated count")
                guard count <= 64 else { throw .valueOutOfRange(field: "allocated count", value: UInt64(count)) }
                var allocated: [InodeID] = []
                for _ in 0..<count { allocated.append(InodeID(try reader.varint())) }
                return .success(.prepared(allocated: allocated))
            case 6:
                let summary = try HandoffSummary.decode(from: &reader)
                return .success(.handoffFrozen(summary))
            case 7:
                let page = try SegmentExportPage.decode(from: &reader)
                return .success(.exportPage(page))
            default: throw .unknownTag(field: "outcome", value: UInt64(tag))
            }
        case 1:
            let raw = try reader.varint16("error code")
            guard let code = ErrorCode(rawValue: raw) else { throw .unknownTag(field: "error code", value: UInt64(raw)) }
            return .failure(MetadataError(code, try reader.string("error message").string))
        case let other:
            throw .unknownTag(field: "result", value: UInt64(other))
        }
    }
}

extension MetadataStateMachine {
    /// Decodes and applies the journal entry `bytes` at log `index`. Undecodable bytes are a
    /// deterministic `badEntry` (or `emsgsize` if over the size limit) result; the index still
    /// advances, exactly as for any other failed command.
    public mutating func apply(encoded bytes: [UInt8], at index: UInt64) -> CommandResult {
        do throws(CodecError) {
            // Segment hand-off pages may be larger than a request (docs/migration.md); nothing else.
            let envelope = try CommandEnvelope(decoding: bytes, maxBytes: max(config.limits.maxRequestBytes, MetadataLimits.maxHandoffEntryBytes))
            if bytes.count > config.limits.maxRequestBytes && !envelope.operation.isHandoffProtocol {
                throw CodecError.tooLarge(size: bytes.count, limit: config.limits.maxRequestBytes)
            }
            return apply(envelope, at: index)
        } catch {
            guard index > appliedIndex else {
                return .failure(MetadataError(
                    .alreadyApplied, "log index \(index) is not after the applied index \(appliedIndex)"))
            }
            appliedIndex = index
            if case .tooLarge = error { return .failure(MetadataError(.emsgsize, error.description)) }
            return .failure(MetadataError(.badEntry, "undecodable journal entry: \(error)"))
        }
    }
}
