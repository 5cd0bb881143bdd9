import Testing
@testable import AlmanacMetadata

/// Pinned encodings and digests. They catch format changes and any nondeterminism that
/// differs between processes (Swift's `Hasher` is seeded per process, so a dictionary order
/// leaking into an encoding would change these values from run to run). Update them only
/// together with a format version bump.
@Suite("Golden values")
struct GoldenTests {
    @Test func envelopeEncodingIsPinned() {
        let envelope = CommandEnvelope(
            shardID: 1, migrationTimestamp: 2, sessionID: 300, sequence: 4, time: Timestamp(nanoseconds: -3),
            operation: .create(parent: InodeID(segment: 1, counter: 5), name: "ab", mode: 0o644, uid: 1000, gid: 0))
        let hex = envelope.encoded().map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
        let fields = [
            "45", "01",  // magic "E", version 1
            "01", "02", "ac02", "04",  // shard 1, migration 2, session 300, sequence 4
            "05",  // time -3 (zigzag 5)
            "05",  // create
            "85808080808040",  // parent (1 << 48) | 5
            "02", "6162",  // name "ab"
            "a403", "e807", "00",  // mode 0o644, uid 1000, gid 0
        ]
        #expect(hex == fields.joined())
    }

    @Test func workloadDigestIsPinned() {
        var workload = RandomWorkload(seed: 2024)
        var machine = MetadataStateMachine()
        for _ in 0..<400 {
            let (envelope, index) = workload.next(for: machine)
            _ = machine.apply(envelope, at: index)
        }
        // Snapshot format 2 (segments, typed entries, transactions): re-pinned when the format changed.
        #expect(machine.digest.description == "1ad652894534411b")
    }
}
