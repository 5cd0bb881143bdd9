import Testing
@testable import AlmanacMetadata

@Suite("Journal codec")
struct CodecTests {
    static let attributes = InodeAttributes(
        id: InodeID(segment: 3, counter: 77), type: .symlink, mode: 0o4755, uid: 1000, gid: UInt32.max - 1,
        size: UInt64.max, nlink: 3, atime: Timestamp(nanoseconds: -5), mtime: Timestamp(nanoseconds: .max),
        ctime: Timestamp(nanoseconds: .min), version: 12)

    static let operations: [MetadataOperation] = [
        .registerSession,
        .keepAlive,
        .closeSession,
        .mkdir(parent: .root, name: "dir", mode: 0o755, uid: 1, gid: 2),
        .create(parent: InodeID(UInt64.max), name: "caf\u{E9} \u{1F600}", mode: 0o100644, uid: 0, gid: UInt32.max),
        .setattr(id: InodeID(9), changes: SetAttributes()),
        .setattr(id: InodeID(9), changes: SetAttributes(mode: 0o600, uid: 1, gid: 2, size: 1 << 40, atime: .now, mtime: .set(Timestamp(nanoseconds: -1)))),
        .setattr(id: InodeID(9), changes: SetAttributes(atime: .set(Timestamp(seconds: 1_700_000_000)))),
        .rename(fromParent: InodeID(2), fromName: "a", toParent: InodeID(3), toName: "b"),
        .unlink(parent: InodeID(2), name: ""),
        .rmdir(parent: InodeID(2), name: "x/y"),
        .open(parent: InodeID(4), name: "f", flags: OpenFlags(access: .readWrite, create: true, exclusive: true, truncate: true), mode: 0o644, uid: 5, gid: 6),
        .open(parent: InodeID(4), name: "f", flags: OpenFlags(), mode: 0, uid: 0, gid: 0),
        .close(handle: UInt64.max),
        .link(target: InodeID(8), parent: .root, name: "hard"),
        .symlink(parent: .root, name: "l", target: ByteString(String(repeating: "t/", count: 2000)), uid: 1, gid: 1),
        .commitDecision(TransactionID(coordinator: 2, number: UInt64.max), session: 7, sequence: 9, outcome: .done),
        .recordRefusal(session: 7, sequence: UInt64.max, error: MetadataError(.eexist, "name 'w1' exists")),
    ]

    @Test(arguments: 0..<operations.count)
    func envelopesRoundTrip(_ which: Int) throws {
        let envelope = CommandEnvelope(
            shardID: 0xBEEF, migrationTimestamp: 1_234_567, sessionID: 1 << 50, sequence: 99,
            time: Timestamp(nanoseconds: 1_700_000_000_123_456_789), operation: Self.operations[which])
        let bytes = envelope.encoded()
        #expect(bytes[0] == 0x45 && bytes[1] == 1)
        let decoded = try CommandEnvelope(decoding: bytes)
        #expect(decoded == envelope)
        #expect(decoded.encoded() == bytes)
        // Every strict prefix is refused with a clear error.
        for length in 0..<bytes.count {
            #expect(throws: CodecError.self) { try CommandEnvelope(decoding: Array(bytes.prefix(length))) }
        }
        #expect(throws: CodecError.trailingBytes(count: 1)) { try CommandEnvelope(decoding: bytes + [0]) }
    }

    @Test func envelopesAreCompact() {
        let envelope = CommandEnvelope(
            shardID: 1, sessionID: 17, sequence: 3, time: Timestamp(seconds: 1_700_000_000),
            operation: .create(parent: InodeID(segment: 1, counter: 42), name: "file.txt", mode: 0o644, uid: 1000, gid: 1000))
        #expect(envelope.encoded().count <= 40, "\(envelope.encoded().count) bytes")
    }

    @Test func resultsRoundTrip() throws {
        let results: [CommandResult] = [
            .success(.sessionRegistered(42)),
            .success(.attributes(Self.attributes)),
            .success(.opened(handle: 7, attributes: Self.attributes, created: true)),
            .success(.opened(handle: 0, attributes: Self.attributes, created: false)),
            .success(.done),
        ] + ErrorCode.allCases.map { .failure(MetadataError($0, "message for \($0) — ü")) }
        for result in results {
            let bytes = result.encoded()
            #expect(try CommandResult(decoding: bytes) == result)
            for length in 0..<bytes.count {
                #expect(throws: CodecError.self) { try CommandResult(decoding: Array(bytes.prefix(length))) }
            }
        }
    }

    @Test func specificDecodeErrors() {
        let good = CommandEnvelope(shardID: 0, sessionID: 1, sequence: 1, time: .zero, operation: .keepAlive).encoded()
        #expect(throws: CodecError.badMagic(expected: "journal entry")) { try CommandEnvelope(decoding: [0x52] + good.dropFirst()) }
        #expect(throws: CodecError.unsupportedVersion(2)) { try CommandEnvelope(decoding: [0x45, 2] + good.dropFirst(2)) }
        #expect(throws: CodecError.tooLarge(size: 20, limit: 10)) { try CommandEnvelope(decoding: Array(repeating: 0, count: 20), maxBytes: 10) }
        // Overlong varint (0 encoded in two bytes) for the shard id.
        #expect(throws: CodecError.malformedVarint(offset: 2)) { try CommandEnvelope(decoding: [0x45, 1, 0x80, 0x00]) }
        // An 11-byte varint.
        #expect(throws: CodecError.malformedVarint(offset: 3)) {
            try CommandEnvelope(decoding: [0x45, 1, 0] + Array(repeating: 0xFF, count: 10) + [0x01])
        }
        // Shard id beyond 16 bits.
        #expect(throws: CodecError.valueOutOfRange(field: "shard id", value: 70_000)) {
            try CommandEnvelope(decoding: [0x45, 1, 0xF0, 0xA2, 0x04])
        }
        // Unknown operation tag.
        #expect(throws: CodecError.unknownTag(field: "operation", value: 99)) {
            try CommandEnvelope(decoding: [0x45, 1, 0, 0, 1, 1, 0, 99])
        }
        // A name that is not UTF-8.
        #expect(throws: CodecError.invalidUTF8(field: "name")) {
            try CommandEnvelope(decoding: [0x45, 1, 0, 0, 1, 1, 0, 8, 1, 2, 0xC3, 0x28])
        }
        // Unknown open-flag bits and an invalid access mode.
        #expect(throws: CodecError.self) { try CommandEnvelope(decoding: [0x45, 1, 0, 0, 1, 1, 0, 10, 1, 1, 0x61, 0x40, 0, 0, 0]) }
        #expect(throws: CodecError.self) { try CommandEnvelope(decoding: [0x45, 1, 0, 0, 1, 1, 0, 10, 1, 1, 0x61, 0x03, 0, 0, 0]) }
        // Mode beyond 32 bits.
        #expect(throws: CodecError.valueOutOfRange(field: "mode", value: 1 << 32)) {
            try CommandEnvelope(decoding: [0x45, 1, 0, 0, 1, 1, 0, 4, 1, 1, 0x61, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0])
        }
        for error in [CodecError.truncated(offset: 3, needed: 2), .checksumMismatch, .inconsistent("x")] {
            #expect(!error.description.isEmpty)
        }
    }

    @Test func randomBytesNeverCrashTheDecoders() {
        var rng = SeededGenerator(seed: 0xC0DEC)
        var decodedEnvelopes = 0
        for round in 0..<20_000 {
            let length = Int.random(in: 0...64, using: &rng)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Half the inputs get a valid header so the decoder gets past the magic bytes.
            if round % 2 == 0, bytes.count >= 2 {
                bytes[0] = 0x45
                bytes[1] = 1
            }
            // Whatever decodes is canonical: it re-encodes to exactly the same bytes.
            if let envelope = try? CommandEnvelope(decoding: bytes) {
                decodedEnvelopes += 1
                #expect(envelope.encoded() == bytes)
            }
            if round % 2 == 0, bytes.count >= 2 { bytes[0] = 0x52 }
            if let result = try? CommandResult(decoding: bytes) { #expect(result.encoded() == bytes) }
            #expect(throws: CodecError.self) { try MetadataStateMachine(restoringFrom: bytes) }
        }
        // The format is dense, so some random inputs do decode; apply validates them.
        #expect(decodedEnvelopes > 0)
    }

    @Test func mutatedValidEntriesNeverCrashDecodeOrApply() {
        var rng = SeededGenerator(seed: 77)
        var h = Harness()
        _ = h.mkdir(.root, "a")
        for round in 0..<3_000 {
            let operation = Self.operations[round % Self.operations.count]
            var bytes = h.envelope(operation, sequence: UInt64(round + 10)).encoded()
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[position] = UInt8.random(in: 0...255, using: &rng)
            }
            // Whatever the bytes are, apply returns a result and advances the index.
            _ = h.machine.apply(encoded: bytes, at: h.nextIndex())
            #expect(h.machine.appliedIndex == h.index)
        }
        // The state is still sound: it snapshots and restores.
        #expect(throws: Never.self) { try MetadataStateMachine(restoringFrom: h.machine.snapshot()) }
    }
}
