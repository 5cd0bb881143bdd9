// Journal and snapshot encoding of the cross-shard transaction protocol (operation tags 14-19).
//
//   transactionID = coordinator number
//   step          = tag(1 addEntry | 2 removeEntry | 3 replaceEntry | 4 createDirectory | 5 adjustLinks
//                       | 6 removeDirectory | 7 reparent | 8 assertParent) fields
//   outcome       = the result codec's outcome body

extension TransactionID {
    func encode(to writer: inout BinaryWriter) {
        writer.varint(coordinator)
        writer.varint(number)
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> TransactionID {
        TransactionID(coordinator: try reader.varint16("transaction coordinator"), number: try reader.varint())
    }
}

extension TransactionStep {
    func encode(to writer: inout BinaryWriter) {
        switch self {
        case let .addEntry(directory, name, child, type):
            writer.byte(1)
            writer.varint(directory.rawValue)
            writer.string(name)
            writer.varint(child.rawValue)
            writer.byte(type.rawValue)
        case let .removeEntry(directory, name, child):
            writer.byte(2)
            writer.varint(directory.rawValue)
            writer.string(name)
            writer.varint(child.rawValue)
        case let .replaceEntry(directory, name, old, new, newType):
            writer.byte(3)
            writer.varint(directory.rawValue)
            writer.string(name)
            writer.varint(old.rawValue)
            writer.varint(new.rawValue)
            writer.byte(newType.rawValue)
        case let .createDirectory(segment, parent, mode, uid, gid):
            writer.byte(4)
            writer.varint(segment)
            writer.varint(parent.rawValue)
            writer.varint(mode)
            writer.varint(uid)
            writer.varint(gid)
        case let .adjustLinks(inode, delta):
            writer.byte(5)
            writer.varint(inode.rawValue)
            writer.signed(Int64(delta))
        case let .removeDirectory(directory):
            writer.byte(6)
            writer.varint(directory.rawValue)
        case let .reparent(directory, parent):
            writer.byte(7)
            writer.varint(directory.rawValue)
            writer.varint(parent.rawValue)
        case let .assertParent(directory, parent):
            writer.byte(8)
            writer.varint(directory.rawValue)
            writer.varint(parent.rawValue)
        }
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> TransactionStep {
        let tag = try reader.byte()
        switch tag {
        case 1:
            let directory = InodeID(try reader.varint())
            let name = try reader.string("name")
            let child = InodeID(try reader.varint())
            return .addEntry(directory: directory, name: name, child: child, type: try fileType(&reader))
        case 2:
            let directory = InodeID(try reader.varint())
            let name = try reader.string("name")
            return .removeEntry(directory: directory, name: name, child: InodeID(try reader.varint()))
        case 3:
            let directory = InodeID(try reader.varint())
            let name = try reader.string("name")
            let old = InodeID(try reader.varint())
            let new = InodeID(try reader.varint())
            return .replaceEntry(directory: directory, name: name, old: old, new: new, newType: try fileType(&reader))
        case 4:
            let segment = try reader.varint16("segment")
            let parent = InodeID(try reader.varint())
            let mode = try reader.varint32("mode")
            let uid = try reader.varint32("uid")
            return .createDirectory(segment: segment, parent: parent, mode: mode, uid: uid, gid: try reader.varint32("gid"))
        case 5:
            let inode = InodeID(try reader.varint())
            let delta = try reader.signed()
            guard let narrow = Int32(exactly: delta) else { throw .valueOutOfRange(field: "link delta", value: UInt64(bitPattern: delta)) }
            return .adjustLinks(inode: inode, delta: narrow)
        case 6:
            return .removeDirectory(directory: InodeID(try reader.varint()))
        case 7:
            let directory = InodeID(try reader.varint())
            return .reparent(directory: directory, parent: InodeID(try reader.varint()))
        case 8:
            let directory = InodeID(try reader.varint())
            return .assertParent(directory: directory, parent: InodeID(try reader.varint()))
        default:
            throw .unknownTag(field: "transaction step", value: UInt64(tag))
        }
    }

    private static func fileType(_ reader: inout BinaryReader) throws(CodecError) -> FileType {
        let tag = try reader.byte()
        guard let type = FileType(rawValue: tag) else { throw .unknownTag(field: "file type", value: UInt64(tag)) }
        return type
    }
}

extension MetadataOperation {
    /// Encodes the transaction-protocol operations (tags 14-19 and 27); false for any other operation.
    func encodeTransactionProtocol(to writer: inout BinaryWriter) -> Bool {
        switch self {
        case let .prepareTransaction(id, steps):
            writer.byte(14)
            id.encode(to: &writer)
            writer.varint(UInt64(steps.count))
            for step in steps { step.encode(to: &writer) }
        case .commitTransaction(let id):
            writer.byte(15)
            id.encode(to: &writer)
        case .abortTransaction(let id):
            writer.byte(16)
            id.encode(to: &writer)
        case let .commitDecision(id, session, sequence, outcome):
            writer.byte(17)
            id.encode(to: &writer)
            writer.varint(session)
            writer.varint(sequence)
            CommandResult.success(outcome).encodeBody(to: &writer)
        case .abortDecision(let id):
            writer.byte(18)
            id.encode(to: &writer)
        case .forgetDecision(let id):
            writer.byte(19)
            id.encode(to: &writer)
        case let .recordRefusal(session, sequence, error):
            writer.byte(27)
            writer.varint(session)
            writer.varint(sequence)
            CommandResult.failure(error).encodeBody(to: &writer)
        default:
            return false
        }
        return true
    }

    static func decodeTransactionProtocol(tag: UInt8, from reader: inout BinaryReader) throws(CodecError) -> MetadataOperation {
        let id = try TransactionID.decode(from: &reader)
        switch tag {
        case 14:
            let count = try reader.count("step count")
            guard count <= 64 else { throw .valueOutOfRange(field: "step count", value: UInt64(count)) }
            var steps: [TransactionStep] = []
            for _ in 0..<count { steps.append(try TransactionStep.decode(from: &reader)) }
            return .prepareTransaction(id, steps: steps)
        case 15: return .commitTransaction(id)
        case 16: return .abortTransaction(id)
        case 17:
            let session = try reader.varint()
            let sequence = try reader.varint()
            guard case .success(let outcome) = try CommandResult.decodeBody(from: &reader) else {
                throw .inconsistent("a commit decision must carry a successful outcome")
            }
            return .commitDecision(id, session: session, sequence: sequence, outcome: outcome)
        case 18: return .abortDecision(id)
        case 19: return .forgetDecision(id)
        default: throw .unknownTag(field: "operation", value: UInt64(tag))
        }
    }

    /// Decodes a `recordRefusal` (tag 27, already read).
    static func decodeRefusal(from reader: inout BinaryReader) throws(CodecError) -> MetadataOperation {
        let session = try reader.varint()
        let sequence = try reader.varint()
        guard case .failure(let error) = try CommandResult.decodeBody(from: &reader) else {
            throw .inconsistent("a recorded refusal must carry an error")
        }
        return .recordRefusal(session: session, sequence: sequence, error: error)
    }
}

extension MetadataOperation {
    /// The operation alone in the journal codec (the internal shard-command request carries it).
    public func encodedOperation() -> [UInt8] {
        var writer = BinaryWriter()
        encode(to: &writer)
        return writer.bytes
    }

    /// Decodes ``encodedOperation()`` bytes, refusing inputs over `maxBytes`.
    public init(decodingOperation bytes: [UInt8], maxBytes: Int = MetadataLimits().maxRequestBytes) throws(CodecError) {
        guard bytes.count <= maxBytes else { throw .tooLarge(size: bytes.count, limit: maxBytes) }
        var reader = BinaryReader(bytes)
        self = try MetadataOperation.decode(from: &reader)
        try reader.finish()
    }
}
