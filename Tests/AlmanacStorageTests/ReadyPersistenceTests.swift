import AlmanacRaft
import Testing
@testable import AlmanacStorage

@Suite struct ReadyPersistenceTests {
    @Test func readiesOfManyGroupsRecoverAsRaftInitialStates() throws {
        let fs = InMemoryFileSystem()
        let engine = try LogEngine.open(fileSystem: fs, directory: "/node", options: small)
        let conf = ConfState(voters: [1, 2, 3])
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 20, term: 2, confState: conf), data: [4, 5, 6])
        let readies: [(GroupID, Ready)] = [
            (1, Ready(hardState: HardState(term: 1, vote: 1, commit: 0), entries: [entry(1, 1), entry(1, 2)], mustSync: true)),
            (2, Ready(hardState: HardState(term: 2, vote: 3, commit: 20), snapshot: snapshot, mustSync: true)),
        ]
        let batch = WriteBatch(try readies.map { (group, ready) throws(StorageError) in
            try GroupWrite(group: group, persisting: ready, snapshots: engine.snapshots)
        })
        try engine.append(batch)
        try engine.append(WriteBatch([GroupWrite(group: 2, persisting: Ready(entries: [entry(2, 21, term: 2)]),
                                                 snapshots: engine.snapshots)]))
        fs.crash(.loseUnsynced)
        let reopened = try LogEngine.open(fileSystem: fs, directory: "/node", options: small)
        let first = try reopened.initialState(group: 1)
        #expect(first.hardState == HardState(term: 1, vote: 1, commit: 0))
        #expect(first.entries == [entry(1, 1), entry(1, 2)] && first.snapshot == nil)
        let second = try reopened.initialState(group: 2)
        #expect(second.snapshot == snapshot)
        #expect(second.entries == [entry(2, 21, term: 2)])
        #expect(second.hardState.commit == 20)
        #expect(try reopened.initialState(group: 3).entries.isEmpty, "an unknown group starts empty")
    }
}
