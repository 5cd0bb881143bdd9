import AlmanacRaft
import Foundation
import Testing
@testable import AlmanacStorage

@Suite struct RecoveryTests {
    /// Writes interleaved records for several groups; the last record is a lone entry of group 1.
    private func prepare(_ fs: InMemoryFileSystem, options: LogEngineOptions)
        throws -> (model: LogModel, segment: String, start: Int, end: Int)
    {
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        var model = LogModel()
        for index in LogIndex(1)...6 {
            var batch = WriteBatch()
            for group in GroupID(1)...4 {
                let e = entry(group, index, size: 20 + Int(group))
                model.append(group, [e])
                batch.groups.append(GroupWrite(group: group, entries: [e], hardState: HardState(term: 1, commit: index - 1)))
                model.hardStates[group] = HardState(term: 1, commit: index - 1)
            }
            try engine.append(batch)
        }
        let start = engine.writtenEnd
        try engine.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 7, size: 57)])]))
        let end = engine.writtenEnd
        let segment = "/data/wal/" + engine.segmentNames.last!
        engine.close()
        return (model, segment, start, end)
    }

    @Test func tornTailAtEveryByteOffsetKeepsEveryEarlierRecord() throws {
        let fs = InMemoryFileSystem()
        let options = LogEngineOptions(segmentSize: 1 << 16)
        let (model, segment, start, end) = try prepare(fs, options: options)
        var withLast = model
        withLast.append(1, [entry(1, 7, size: 57)])
        let original = try fs.contents(segment)
        let segmentsBefore = Set(try fs.list("/data/wal"))
        #expect(end - start == RecordHeader.size + 57)
        for preallocated in [false, true] {
            for cut in start...end {
                var image = Array(original[0..<cut])
                if preallocated { image += [UInt8](repeating: 0, count: original.count - cut) }
                try fs.setContents(segment, image)
                for name in try fs.list("/data/wal") where !segmentsBefore.contains(name) {
                    try fs.delete("/data/wal/" + name)
                }
                let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
                let expected = cut == end ? withLast : model
                #expect(try mismatches(engine, expected) == [], "cut at \(cut), preallocated \(preallocated)")
                if cut == start || cut == end {
                    #expect(engine.recovery.tornTails.isEmpty, "cut at \(cut)")
                } else {
                    let torn = engine.recovery.tornTails
                    #expect(torn.count == 1 && torn.first?.offset == start, "cut at \(cut)")
                    if let saved = torn.first?.savedTo {
                        var kept = Array(original[start..<cut])
                        while kept.last == 0 { kept.removeLast() }
                        #expect(try fs.contents(saved) == kept, "torn bytes kept aside, cut at \(cut)")
                    }
                    #expect(try fs.contents(segment).count == start, "segment truncated at the torn record")
                }
                engine.close()
            }
        }
    }

    @Test func bitFlipInAMiddleRecordRefusesStartNamingFileAndOffset() throws {
        let fs = InMemoryFileSystem()
        let options = LogEngineOptions(segmentSize: 512)
        _ = try prepare(fs, options: options)
        let names = try fs.list("/data/wal")
        #expect(names.count >= 3)
        // A record in the middle of a sealed segment: its second record.
        let victim = "/data/wal/" + names[1]
        let bytes = try fs.contents(victim)
        guard case let .record(first, _) = LogRecordCodec.parse(bytes, at: SegmentFile.headerSize, previousChecksum: nil) else {
            Issue.record("no first record")
            return
        }
        let offset = SegmentFile.headerSize + RecordHeader.size + first.payloadLength
        try fs.flipBit(victim, byteOffset: offset + RecordHeader.size + 3, bit: 5)
        do {
            _ = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
            Issue.record("start should be refused")
        } catch {
            guard case let .corruptRecord(file, at, reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(file == victim && at == offset && reason.contains("checksum mismatch"), "\(error)")
            #expect(error.description.contains(victim) && error.description.contains("offset \(offset)"))
        }
    }

    @Test func bitFlipInTheLastSegmentBeforeValidRecordsRefusesStart() throws {
        let fs = InMemoryFileSystem()
        let options = LogEngineOptions(segmentSize: 1 << 16)
        let (_, segment, start, _) = try prepare(fs, options: options)
        try fs.flipBit(segment, byteOffset: start - 5)   // payload of the record before the last one
        #expect {
            _ = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        } throws: { error in
            guard case let .corruptRecord(file, _, reason) = error as? StorageError else { return false }
            return file == segment && reason.contains("not a torn tail")
        }
    }

    @Test func corruptLengthFieldInTheLastSegmentIsNotMistakenForATornTail() throws {
        let fs = InMemoryFileSystem()
        let options = LogEngineOptions(segmentSize: 1 << 16)
        let (_, segment, start, _) = try prepare(fs, options: options)
        // The record just before the last one: bump its payload length so it seems to run past the end.
        let image = try fs.contents(segment)
        var offset = SegmentFile.headerSize
        var previous = offset
        while offset < start, case let .record(header, _) = LogRecordCodec.parse(image, at: offset, previousChecksum: nil) {
            previous = offset
            offset += RecordHeader.size + header.payloadLength
        }
        try fs.flipBit(segment, byteOffset: previous + 2, bit: 0)   // length += 65536
        #expect {
            _ = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        } throws: { error in
            guard case let .corruptRecord(file, at, reason) = error as? StorageError else { return false }
            return file == segment && at == previous && reason.contains("not a torn tail")
        }
    }

    @Test func swappedRecordsBreakTheChainAndRefuseStart() throws {
        let fs = InMemoryFileSystem()
        let options = LogEngineOptions(segmentSize: 512)
        _ = try prepare(fs, options: options)
        let victim = "/data/wal/" + (try fs.list("/data/wal"))[1]
        var image = try fs.contents(victim)
        let a = SegmentFile.headerSize
        guard case let .record(first, _) = LogRecordCodec.parse(image, at: a, previousChecksum: nil),
              case let .record(second, _) = LogRecordCodec.parse(image, at: a + RecordHeader.size + first.payloadLength, previousChecksum: nil)
        else {
            Issue.record("segment should start with two records")
            return
        }
        let lengthA = RecordHeader.size + first.payloadLength
        let lengthB = RecordHeader.size + second.payloadLength
        let recordA = Array(image[a..<(a + lengthA)])
        let recordB = Array(image[(a + lengthA)..<(a + lengthA + lengthB)])
        image.replaceSubrange(a..<(a + lengthA + lengthB), with: recordB + recordA)
        try fs.setContents(victim, image)
        #expect {
            _ = try LogEngine.open(fileSystem: fs, directory: "/data", options: options)
        } throws: { error in
            guard case let .corruptRecord(file, offset, reason) = error as? StorageError else { return false }
            return file == victim && offset == a && reason.contains("chain")
        }
    }

    @Test func lockFileKeepsASecondOpenerOut() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: directory)
        #expect(throws: StorageError.directoryLocked(path: directory + "/LOCK")) {
            _ = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: directory)
        }
        let message = StorageError.directoryLocked(path: directory + "/LOCK").description
        #expect(message.contains("locked by another process"))
        first.close()
        let second = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: directory)
        second.close()
    }

    @Test func posixRoundTripSurvivesReopen() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var model = LogModel()
        do {
            let engine = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: directory,
                                            options: LogEngineOptions(segmentSize: 8192))
            for index in LogIndex(1)...50 {
                let batch = WriteBatch((GroupID(1)...5).map { group in
                    let e = entry(group, index, size: 40)
                    model.append(group, [e])
                    return GroupWrite(group: group, entries: [e])
                })
                try engine.append(batch)
            }
            engine.close()
        }
        let reopened = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: directory,
                                          options: LogEngineOptions(segmentSize: 8192))
        #expect(try mismatches(reopened, model) == [])
        #expect(reopened.segmentNames.count > 2)
        // Segments are preallocated.
        let active = directory + "/wal/" + reopened.segmentNames.last!
        let size = (try FileManager.default.attributesOfItem(atPath: active)[.size] as? Int) ?? 0
        #expect(size == 8192)
        reopened.close()
    }
}
