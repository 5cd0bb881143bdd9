import Testing
@testable import AlmanacMetadata

/// Every operation that takes a name, an id or a mode refuses bad ones with a clear error and
/// no state change.
@Suite("Input validation")
struct ValidationTests {
    static let badNames: [(ByteString, ErrorCode)] = [
        ("", .einval),
        (".", .einval),
        ("..", .einval),
        ("a/b", .einval),
        ("/", .einval),
        ("a\u{0}b", .einval),
        (ByteString(String(repeating: "n", count: 256)), .enametoolong),
        // 128 two-byte characters: 256 UTF-8 bytes, 128 characters.
        (ByteString(String(repeating: "é", count: 128)), .enametoolong),
    ]

    /// Builds each name-taking operation with `name` in the name position.
    static func operations(named name: ByteString, file: InodeID, dir: InodeID) -> [MetadataOperation] {
        [
            .mkdir(parent: dir, name: name, mode: 0o755, uid: 0, gid: 0),
            .create(parent: dir, name: name, mode: 0o644, uid: 0, gid: 0),
            .symlink(parent: dir, name: name, target: "t", uid: 0, gid: 0),
            .link(target: file, parent: dir, name: name),
            .unlink(parent: dir, name: name),
            .rmdir(parent: dir, name: name),
            .open(parent: dir, name: name, flags: OpenFlags(create: true), mode: 0o644, uid: 0, gid: 0),
            .rename(fromParent: dir, fromName: name, toParent: dir, toName: "ok"),
            .rename(fromParent: .root, fromName: "f", toParent: dir, toName: name),
        ]
    }

    @Test(arguments: 0..<badNames.count)
    func badNamesAreRefusedByEveryOperation(_ caseIndex: Int) {
        let (name, code) = Self.badNames[caseIndex]
        var h = Harness()
        let file = h.create(.root, "f")
        let dir = h.mkdir(.root, "d")
        for operation in Self.operations(named: name, file: file, dir: dir) {
            h.fails(code, operation)
        }
        #expect(queryError { () throws(MetadataError) in try h.machine.lookup(parent: dir, name: name) } == code)
    }

    @Test func nameLimitCountsBytesNotCharacters() {
        var h = Harness()
        let exactly255 = ByteString(String(repeating: "a", count: 253) + "é")  // 255 bytes
        #expect(exactly255.byteCount == 255)
        _ = h.create(.root, exactly255)
        h.fails(.enametoolong, .create(parent: .root, name: ByteString(String(repeating: "a", count: 254) + "é"), mode: 0o644, uid: 0, gid: 0))
        // Unicode names are fine, and precomposed/decomposed forms are different names.
        _ = h.create(.root, "caf\u{E9}")
        _ = h.create(.root, "cafe\u{301}")
        #expect(h.names(.root).count == 3)
    }

    /// Each id-taking operation with `id` in each id position.
    static func operations(withID id: InodeID, file: InodeID, dir: InodeID) -> [MetadataOperation] {
        [
            .mkdir(parent: id, name: "x", mode: 0o755, uid: 0, gid: 0),
            .create(parent: id, name: "x", mode: 0o644, uid: 0, gid: 0),
            .symlink(parent: id, name: "x", target: "t", uid: 0, gid: 0),
            .setattr(id: id, changes: SetAttributes(mode: 0o600)),
            .unlink(parent: id, name: "x"),
            .rmdir(parent: id, name: "x"),
            .open(parent: id, name: "x", flags: OpenFlags(create: true), mode: 0o644, uid: 0, gid: 0),
            .link(target: id, parent: dir, name: "x"),
            .link(target: file, parent: id, name: "x"),
            .rename(fromParent: id, fromName: "x", toParent: dir, toName: "y"),
            .rename(fromParent: .root, fromName: "f", toParent: id, toName: "y"),
        ]
    }

    @Test func unknownIDsAreRefusedByEveryOperation() {
        var h = Harness()
        let file = h.create(.root, "f")
        let dir = h.mkdir(.root, "d")
        for operation in Self.operations(withID: InodeID(987_654), file: file, dir: dir) {
            h.fails(.enoent, operation)
        }
        for operation in Self.operations(withID: InodeID(0), file: file, dir: dir) {
            h.fails(.einval, operation)
        }
        // Ids of a segment owned elsewhere: CROSS_SHARD (run as a cross-shard transaction) where the
        // id is not the one the request is routed by, WRONG_SHARD (re-route) where it is.
        h.disownForeignSegment()
        let foreign = InodeID(segment: Harness.foreignSegment, counter: 2)
        for operation in Self.operations(withID: foreign, file: file, dir: dir) {
            switch operation {
            case .rename(let from, _, _, _) where from != foreign: h.fails(.crossShard, operation)
            case .link(let target, let parent, _) where target == foreign && parent != foreign: h.fails(.crossShard, operation)
            default: h.fails(.wrongShard, operation)
            }
        }
        let machine = h.machine
        let unknown = InodeID(987_654)
        #expect(queryError { () throws(MetadataError) in try machine.getattr(unknown) } == .enoent)
        #expect(queryError { () throws(MetadataError) in try machine.readdir(unknown, limit: 1) } == .enoent)
        #expect(queryError { () throws(MetadataError) in try machine.readlink(unknown) } == .enoent)
        #expect(queryError { () throws(MetadataError) in try machine.lookup(parent: unknown, name: "x") } == .enoent)
    }

    @Test(arguments: [UInt32(0o10000), 0o777777, 0o200644, 0xFFFF_FFFF, 0o120777])
    func badModesAreRefused(_ mode: UInt32) {
        var h = Harness()
        let file = h.create(.root, "f")
        h.fails(.einval, .mkdir(parent: .root, name: "x", mode: mode, uid: 0, gid: 0))
        h.fails(.einval, .create(parent: .root, name: "x", mode: mode, uid: 0, gid: 0))
        h.fails(.einval, .open(parent: .root, name: "x", flags: OpenFlags(create: true), mode: mode, uid: 0, gid: 0))
        h.fails(.einval, .setattr(id: file, changes: SetAttributes(mode: mode)))
    }

    @Test func oversizedRequestsAreRefused() {
        var h = Harness(config: MetadataConfig(limits: MetadataLimits(maxSymlinkTargetBytes: 100, maxRequestBytes: 300)))
        h.fails(.enametoolong, .symlink(parent: .root, name: "l", target: ByteString(String(repeating: "t", count: 101)), uid: 0, gid: 0))
        // An encoded entry over the request limit is refused before decoding.
        let big = h.envelope(.symlink(parent: .root, name: ByteString(String(repeating: "n", count: 250)), target: ByteString(String(repeating: "t", count: 100)), uid: 0, gid: 0), sequence: 100)
        let bytes = big.encoded()
        #expect(bytes.count > 300)
        let before = h.machine
        let result = h.machine.apply(encoded: bytes, at: h.nextIndex())
        #expect(result.errorCode == .emsgsize)
        #expect(h.machine.namespaceEquals(before))
        #expect(h.machine.appliedIndex == h.index)
        // Garbage entries are a deterministic badEntry result.
        let garbage = h.machine.apply(encoded: [0x45, 1, 0xFF], at: h.nextIndex())
        #expect(garbage.errorCode == .badEntry)
        #expect(h.machine.namespaceEquals(before))
    }

    @Test func readdirArgumentsAreValidated() {
        let h = Harness()
        #expect(queryError { () throws(MetadataError) in try h.machine.readdir(.root, limit: 0) } == .einval)
        #expect(queryError { () throws(MetadataError) in try h.machine.readdir(.root, limit: 4097) } == .einval)
        #expect(queryError { () throws(MetadataError) in try h.machine.readdir(.root, after: ReaddirCursor(after: "a/b"), limit: 1) } == .einval)
        #expect(queryError { () throws(MetadataError) in try h.machine.readdir(.root, after: ReaddirCursor(after: ""), limit: 1) } == .einval)
    }

    @Test("the word-at-a-time scan for \"/\" and NUL agrees with a byte-by-byte one, for every byte value at every position")
    func forbiddenByteScanAgreesWithNaiveScan() {
        for length in 0...19 {
            for position in 0..<max(1, length) {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: 0x61, count: length)
                    if length > 0 { bytes[position] = UInt8(value) }
                    let fast = bytes.withUnsafeBufferPointer { Validation.forbiddenBytes($0) }
                    #expect(fast.slash == bytes.contains(0x2F) && fast.nul == bytes.contains(0), "\(bytes)")
                }
            }
        }
        // Both at once, and neighbours of the forbidden values (0x2E, 0x30, 0x01, 0x80, 0xFF).
        let mixed: [UInt8] = [0x2E, 0x30, 0x01, 0x80, 0xFF, 0x2F, 0x7F, 0x00, 0x2E]
        let fast = mixed.withUnsafeBufferPointer { Validation.forbiddenBytes($0) }
        #expect(fast.slash && fast.nul)
    }
}
