// Journal encoding of the segment hand-off commands (operation tags 20-26) and their outcomes
// (outcome tags 6-7), and the hand-off section of snapshots (docs/metadata.md).
//
//   freezeSegments   20 id segments(count, each) target
//   exportSegments   21 id cursorID cursorHasName [cursorName] budgetBytes
//   thawSegments     22 id
//   releaseSegments  23 id epoch
//   stageSegments    24 id source segments pieces(count, each piece)
//   activateSegments 25 id source summary epoch migrationTimestamp
//   abortImport      26 id
//   piece   = id hasHead [attributes parent hasSymlink [target]] entries(count, each name child type)
//   summary = counters(count, each segment next) records entries

extension MetadataOperation {
    /// Encodes a hand-off command; false if this is not one.
    func encodeHandoffProtocol(to writer: inout BinaryWriter) -> Bool {
        switch self {
        case let .freezeSegments(id, segments, target):
            writer.byte(20)
            writer.varint(id)
            writer.segments(segments)
            writer.varint(target)
        case let .exportSegments(id, after, budgetBytes):
            writer.byte(21)
            writer.varint(id)
            writer.varint(after.id.rawValue)
            writer.bool(after.afterName != nil)
            if let name = after.afterName { writer.string(name) }
            writer.varint(budgetBytes)
        case let .thawSegments(id):
            writer.byte(22)
            writer.varint(id)
        case let .releaseSegments(id, epoch):
            writer.byte(23)
            writer.varint(id)
            writer.varint(epoch)
        case let .stageSegments(id, source, segments, pieces):
            writer.byte(24)
            writer.varint(id)
            writer.varint(source)
            writer.segments(segments)
            writer.varint(UInt64(pieces.count))
            for piece in pieces { piece.encode(to: &writer) }
        case let .activateSegments(id, source, summary, epoch, migrationTimestamp):
            writer.byte(25)
            writer.varint(id)
            writer.varint(source)
            summary.encode(to: &writer)
            writer.varint(epoch)
            writer.varint(migrationTimestamp)
        case let .abortImport(id):
            writer.byte(26)
            writer.varint(id)
        default:
            return false
        }
        return true
    }

    static func decodeHandoffProtocol(tag: UInt8, from reader: inout BinaryReader) throws(CodecError) -> MetadataOperation {
        switch tag {
        case 20:
            let id = try reader.varint()
            let segments = try reader.segments()
            return .freezeSegments(id, segments: segments, target: try reader.varint16("target shard"))
        case 21:
            let id = try reader.varint()
            let cursorID = InodeID(try reader.varint())
            let name = try reader.bool("cursor has name") ? try reader.string("cursor name") : nil
            return .exportSegments(id, after: SegmentExportCursor(id: cursorID, afterName: name), budgetBytes: try reader.varint32("budget"))
        case 22:
            return .thawSegments(try reader.varint())
        case 23:
            let id = try reader.varint()
            return .releaseSegments(id, epoch: try reader.varint())
        case 24:
            let id = try reader.varint()
            let source = try reader.varint16("source shard")
            let segments = try reader.segments()
            let count = try reader.count("piece count")
            var pieces: [SegmentRecordPiece] = []
            for _ in 0..<count { pieces.append(try SegmentRecordPiece.decode(from: &reader)) }
            return .stageSegments(id, source: source, segments: segments, pieces: pieces)
        case 25:
            let id = try reader.varint()
            let source = try reader.varint16("source shard")
            let summary = try HandoffSummary.decode(from: &reader)
            let epoch = try reader.varint()
            return .activateSegments(id, source: source, summary: summary, epoch: epoch, migrationTimestamp: try reader.varint())
        case 26:
            return .abortImport(try reader.varint())
        default:
            throw .unknownTag(field: "operation", value: UInt64(tag))
        }
    }
}

extension SegmentRecordPiece {
    func encode(to writer: inout BinaryWriter) {
        writer.varint(id.rawValue)
        writer.bool(attributes != nil)
        if let attributes {
            attributes.encode(to: &writer)
            writer.varint(parent.rawValue)
            writer.bool(symlinkTarget != nil)
            if let symlinkTarget { writer.string(symlinkTarget) }
        }
        writer.varint(UInt64(entries.count))
        for entry in entries {
            writer.string(entry.name)
            writer.varint(entry.child.rawValue)
            writer.byte(entry.type.rawValue)
        }
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> SegmentRecordPiece {
        let id = InodeID(try reader.varint())
        var piece = SegmentRecordPiece(id: id, attributes: nil, parent: InodeID(0), symlinkTarget: nil, entries: [])
        if try reader.bool("piece has head") {
            piece.attributes = try InodeAttributes.decode(from: &reader)
            piece.parent = InodeID(try reader.varint())
            piece.symlinkTarget = try reader.bool("piece has symlink") ? try reader.string("symlink target") : nil
        }
        let count = try reader.count("entry count")
        for _ in 0..<count {
            let name = try reader.string("entry name")
            let child = InodeID(try reader.varint())
            let typeTag = try reader.byte()
            guard let type = FileType(rawValue: typeTag) else { throw .unknownTag(field: "entry type", value: UInt64(typeTag)) }
            piece.entries.append(.init(name: name, child: child, type: type))
        }
        return piece
    }
}

extension HandoffSummary {
    func encode(to writer: inout BinaryWriter) {
        writer.varint(UInt64(counters.count))
        for counter in counters {
            writer.varint(counter.segment)
            writer.varint(counter.next)
        }
        writer.varint(records)
        writer.varint(entries)
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> HandoffSummary {
        let count = try reader.count("counter count")
        var counters: [SegmentCounter] = []
        for _ in 0..<count { counters.append(SegmentCounter(segment: try reader.varint16("segment"), next: try reader.varint())) }
        return HandoffSummary(counters: counters, records: try reader.varint(), entries: try reader.varint())
    }
}

extension SegmentExportPage {
    func encode(to writer: inout BinaryWriter) {
        writer.varint(UInt64(pieces.count))
        for piece in pieces { piece.encode(to: &writer) }
        writer.bool(next != nil)
        if let next {
            writer.varint(next.id.rawValue)
            writer.bool(next.afterName != nil)
            if let name = next.afterName { writer.string(name) }
        }
    }

    static func decode(from reader: inout BinaryReader) throws(CodecError) -> SegmentExportPage {
        let count = try reader.count("piece count")
        var pieces: [SegmentRecordPiece] = []
        for _ in 0..<count { pieces.append(try SegmentRecordPiece.decode(from: &reader)) }
        guard try reader.bool("page has next") else { return SegmentExportPage(pieces: pieces, next: nil) }
        let id = InodeID(try reader.varint())
        let name = try reader.bool("cursor has name") ? try reader.string("cursor name") : nil
        return SegmentExportPage(pieces: pieces, next: SegmentExportCursor(id: id, afterName: name))
    }
}

extension BinaryWriter {
    mutating func segments(_ segments: [SegmentID]) {
        varint(UInt64(segments.count))
        for segment in segments { varint(segment) }
    }
}

extension BinaryReader {
    mutating func segments() throws(CodecError) -> [SegmentID] {
        let count = try self.count("segment count")
        var segments: [SegmentID] = []
        for _ in 0..<count { segments.append(try varint16("segment")) }
        return segments
    }
}

// MARK: - Snapshot section (version 4, written only when some hand-off state exists)
//
//   outgoing(0 | 1 id target segments) incoming(count, each id source segments records(count, each
//   attributes parent [entries | symlink])) outcomes(count, each id outcome)

extension MetadataStateMachine {
    var hasHandoffState: Bool { outgoing != nil || !incoming.isEmpty || !handoffOutcomes.isEmpty }

    func encodeHandoffSection(to writer: inout BinaryWriter) {
        writer.bool(outgoing != nil)
        if let outgoing {
            writer.varint(outgoing.id)
            writer.varint(outgoing.target)
            writer.segments(outgoing.segments)
        }
        writer.varint(UInt64(incoming.count))
        for id in incoming.keys.sorted() {
            guard let handoff = incoming[id] else { continue }
            writer.varint(id)
            writer.varint(handoff.source)
            writer.segments(handoff.segments)
            writer.varint(UInt64(handoff.staged.count))
            for record in handoff.staged.keys.sorted() {
                guard let node = handoff.staged[record] else { continue }
                SegmentRecordPiece(
                    id: record, attributes: node.attributes, parent: node.parent, symlinkTarget: node.symlinkTarget,
                    entries: node.entries.namedEntries.map { name, entry in .init(name: name, child: entry.child, type: entry.type) }
                ).encode(to: &writer)
            }
        }
        writer.varint(UInt64(handoffOutcomes.count))
        for id in handoffOutcomes.keys.sorted() {
            writer.varint(id)
            writer.byte(handoffOutcomes[id]?.rawValue ?? 0)
        }
    }

    mutating func decodeHandoffSection(from reader: inout BinaryReader) throws(CodecError) {
        if try reader.bool("has outgoing hand-off") {
            let id = try reader.varint()
            let target = try reader.varint16("target shard")
            let segments = try reader.segments()
            guard segments == segments.sorted(), segments.allSatisfy({ ownership.owns($0) }) else {
                throw .inconsistent("outgoing hand-off \(id) freezes segments this shard does not own, or out of order")
            }
            let moving = Set(segments)
            outgoing = OutgoingHandoff(id: id, target: target, segments: segments, records: inodes.keys.filter { moving.contains($0.segment) }.sorted())
            frozen = moving
        }
        let incomingCount = try reader.count("incoming hand-off count")
        for _ in 0..<incomingCount {
            let id = try reader.varint()
            var handoff = IncomingHandoff(id: id, source: try reader.varint16("source shard"), segments: try reader.segments())
            let records = try reader.count("staged record count")
            for _ in 0..<records {
                let piece = try SegmentRecordPiece.decode(from: &reader)
                guard let attributes = piece.attributes, attributes.id == piece.id, handoff.segments.contains(piece.id.segment) else {
                    throw .inconsistent("staged record \(piece.id) of hand-off \(id) is malformed")
                }
                var entries = DirectoryEntries()
                for entry in piece.entries { entries.set(entry.name, to: entry.child, type: entry.type) }
                handoff.staged[piece.id] = Inode(attributes: attributes, parent: piece.parent, entries: entries, symlinkTarget: piece.symlinkTarget)
            }
            guard incoming.updateValue(handoff, forKey: id) == nil else { throw .inconsistent("hand-off \(id) is staged twice") }
        }
        let outcomeCount = try reader.count("hand-off outcome count")
        for _ in 0..<outcomeCount {
            let id = try reader.varint()
            let tag = try reader.byte()
            guard let outcome = HandoffOutcome(rawValue: tag) else { throw .unknownTag(field: "hand-off outcome", value: UInt64(tag)) }
            handoffOutcomes[id] = outcome
        }
    }
}
