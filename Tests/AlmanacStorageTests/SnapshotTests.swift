import Foundation
import AlmanacRaft
import Testing
@testable import AlmanacStorage

@Suite struct SnapshotTests {
    private func sampleSnapshot(index: LogIndex, term: Term, size: Int = 10_000) -> Snapshot {
        Snapshot(metadata: SnapshotMetadata(index: index, term: term, confState: ConfState(voters: [1, 2, 3], learners: [4])),
                 data: payload(99, index, term: term, size: size))
    }

    private func stream(from leader: LogEngine, _ reference: SnapshotReference, to follower: LogEngine,
                        chunkSize: Int) throws -> SnapshotReference {
        let reader = try leader.snapshots.chunks(of: reference, chunkSize: chunkSize)
        var receiver: SnapshotReceiver?
        var chunks = 0
        while let chunk = try reader.next() {
            if receiver == nil { receiver = try follower.snapshots.receiver(for: chunk) }
            try receiver!.receive(chunk)
            chunks += 1
        }
        #expect(chunks == (Int(reference.fileSize) + chunkSize - 1) / chunkSize)
        return try receiver!.finish()
    }

    @Test func writeStreamReceiveAndInstallReplacingAConflictingLog() throws {
        let leaderFS = InMemoryFileSystem(), followerFS = InMemoryFileSystem()
        let leader = try LogEngine.open(fileSystem: leaderFS, directory: "/leader", options: small)
        let follower = try LogEngine.open(fileSystem: followerFS, directory: "/follower", options: small)
        try follower.append(WriteBatch([GroupWrite(group: 1, entries: (1...10).map { entry(1, $0) })]))
        let snapshot = sampleSnapshot(index: 50, term: 3)
        let reference = try leader.snapshots.write(group: 1, snapshot: snapshot)
        #expect(try leader.snapshots.read(reference) == snapshot)
        let received = try stream(from: leader, reference, to: follower, chunkSize: 999)
        #expect(received == reference)
        try follower.append(WriteBatch([GroupWrite(group: 1, installSnapshot: received,
                                                   hardState: HardState(term: 3, vote: 0, commit: 50))]))
        #expect(follower.summary(of: 1)?.firstIndex == 51 && follower.summary(of: 1)?.lastIndex == 50)
        try follower.append(WriteBatch([GroupWrite(group: 1, entries: [entry(1, 51, term: 3)])]))
        followerFS.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: followerFS, directory: "/follower", options: small)
        let state = try reopened.initialState(group: 1)
        #expect(state.snapshot == snapshot)
        #expect(state.entries == [entry(1, 51, term: 3)])
        #expect(state.hardState.commit == 50)
    }

    @Test("a snapshot streamed onto the real disk, its writeback started every 8 MiB as it arrives, reads back whole")
    func receivedOnTheRealDiskWithEarlyWriteback() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-snapshot-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let leader = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: "\(directory)/leader", options: small)
        let follower = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: "\(directory)/follower", options: small)
        // Larger than two writeback steps, and not a multiple of the chunk or of the step.
        let snapshot = sampleSnapshot(index: 70, term: 4, size: 2 * Int(SnapshotReceiver.writebackStep) + 123_457)
        let reference = try leader.snapshots.write(group: 1, snapshot: snapshot)
        let received = try stream(from: leader, reference, to: follower, chunkSize: 1 << 20)
        #expect(received == reference)
        #expect(try follower.snapshots.read(received) == snapshot)
    }

    @Test func installKeepsTheSuffixWhenTheLogHoldsTheSnapshotEntry() throws {
        let fs = InMemoryFileSystem()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: small)
        try engine.append(WriteBatch([GroupWrite(group: 1, entries: (1...60).map { entry(1, $0, term: 3) })]))
        let reference = try engine.snapshots.write(group: 1, snapshot: sampleSnapshot(index: 50, term: 3, size: 10))
        try engine.append(WriteBatch([GroupWrite(group: 1, installSnapshot: reference)]))
        #expect(engine.summary(of: 1)?.firstIndex == 51 && engine.summary(of: 1)?.lastIndex == 60)
        fs.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/data", options: small)
        #expect(try reopened.initialState(group: 1).entries.map(\.index) == Array(51...60))
        #expect(try reopened.term(group: 1, index: 50) == 3)
    }

    @Test func receiverRejectsCorruptionAndOutOfOrderChunks() throws {
        let fs = InMemoryFileSystem()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/data", options: small)
        let reference = try engine.snapshots.write(group: 2, snapshot: sampleSnapshot(index: 9, term: 1, size: 300))
        let reader = try engine.snapshots.chunks(of: reference, chunkSize: 100)
        var chunks: [SnapshotChunk] = []
        while let chunk = try reader.next() { chunks.append(chunk) }

        let other = try LogEngine.open(fileSystem: InMemoryFileSystem(), directory: "/other", options: small)
        let receiver = try other.snapshots.receiver(for: chunks[0])
        try receiver.receive(chunks[0])
        #expect(throws: StorageError.self) { try receiver.receive(chunks[2]) }
        try receiver.receive(chunks[0])   // a resent chunk is ignored
        var damaged = chunks[1]
        damaged.bytes[17] ^= 0x40
        try receiver.receive(damaged)
        for chunk in chunks.dropFirst(2) { try receiver.receive(chunk) }
        #expect(receiver.isComplete)
        #expect {
            _ = try receiver.finish()
        } throws: { error in
            guard case let .corruptFile(_, reason) = error as? StorageError else { return false }
            return reason.contains("checksum")
        }
        #expect(try other.fileSystem.list(other.snapshots.directory).allSatisfy { !$0.hasSuffix(".snap") },
                "nothing installed")
    }
}
