import Testing
@testable import AlmanacMetadata

/// `MetadataOperation.lengthLimitError` (what the backend answers without journaling an
/// over-long name) agrees with what the state machine answers for the same operation.
@Suite("Length limits checked before journaling")
struct LengthLimitTests {
    static let names: [ByteString] = [
        "ok",
        ByteString(String(repeating: "n", count: 255)),
        ByteString(String(repeating: "n", count: 256)),
        ByteString(String(repeating: "n", count: 100_000)),
        ByteString("a/" + String(repeating: "n", count: 300)),
        ByteString(String(repeating: "n", count: 300) + "\u{0}"),
        "..",
    ]

    @Test func answersWhatTheStateMachineAnswersForOverlongNames() {
        var h = Harness()
        let file = h.create(.root, "f")
        let dir = h.mkdir(.root, "d")
        let limits = MetadataLimits()
        for name in Self.names {
            for operation in ValidationTests.operations(named: name, file: file, dir: dir) {
                let early = operation.lengthLimitError(limits: limits)
                if name.byteCount <= limits.maxNameBytes {
                    #expect(early == nil, "\(operation.name) with a \(name.byteCount)-byte name")
                    continue
                }
                let result = h.run(operation)  // fails, so it changes nothing
                #expect(early != nil, "\(operation.name) with a \(name.byteCount)-byte name")
                #expect(early?.code == result.errorCode, "\(operation.name): early \(String(describing: early)), state machine \(result)")
            }
        }
    }

    @Test func symlinkTargetsOverTheLimit() {
        let limits = MetadataLimits()
        for (length, code) in [(4096, nil), (4097, ErrorCode.enametoolong), (100_000, .enametoolong)] {
            let operation = MetadataOperation.symlink(
                parent: .root, name: "s", target: ByteString(String(repeating: "t", count: length)), uid: 0, gid: 0)
            #expect(operation.lengthLimitError(limits: limits)?.code == code, "\(length)-byte target")
        }
        #expect(MetadataOperation.setattr(id: .root, changes: SetAttributes(mode: 0o700)).lengthLimitError(limits: limits) == nil)
    }
}
