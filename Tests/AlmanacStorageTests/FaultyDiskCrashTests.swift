import AlmanacRaft
import Testing
@testable import AlmanacStorage

/// The engine on the faulty in-memory disk: crashes with torn, unsynced writes in flight.
@Suite struct FaultyDiskCrashTests {
    @Test(arguments: [InMemoryFileSystem.CrashMode.tornPrefix, .loseUnsynced])
    func syncedDataSurvivesAndUnsyncedDataIsAPrefixOrGone(mode: InMemoryFileSystem.CrashMode) throws {
        let options = LogEngineOptions(segmentSize: 2048)
        var tornSeen = 0
        for seed in UInt64(0)..<150 {
            let fs = InMemoryFileSystem()
            var engine = try LogEngine.open(fileSystem: fs, directory: "/n", options: options)
            var durable = LogModel()
            var written = LogModel()
            var random = SplitMix64(seed: seed)
            for round in 0..<3 {
                // Some synced batches, then some written but not synced, then a crash.
                for step in 0..<(5 + Int(random.next() % 10)) {
                    let group = GroupID(1 + random.next() % 3)
                    let start = written.lastIndex(group) + 1
                    let new = (start..<(start + 1 + random.next() % 3)).map { entry(group, $0, size: Int(random.next() % 80)) }
                    written.append(group, new)
                    try engine.write(WriteBatch([GroupWrite(group: group, entries: new)]))
                    if step % 3 != 2 || round == 0 {
                        try engine.sync()
                        durable = written
                    } else {
                        try engine.flushPending()   // on the disk, not synced
                    }
                }
                fs.crash(mode, seed: seed &* 31 &+ UInt64(round))
                engine = try LogEngine.open(fileSystem: fs, directory: "/n", options: options)
                tornSeen += engine.recovery.tornTails.count
                for group in GroupID(1)...3 {
                    let recovered = engine.summary(of: group)?.lastIndex ?? 0
                    #expect(recovered >= durable.lastIndex(group), "seed \(seed): synced entries of group \(group) lost")
                    #expect(recovered <= written.lastIndex(group))
                    if recovered > 0 {
                        let expected = written.sortedEntries(group).filter { $0.index <= recovered }
                        #expect(try engine.entries(group: group, 1..<(recovered + 1)) == expected, "seed \(seed)")
                    }
                    // What survived is now the truth for the next round.
                    written.entries[group] = (written.entries[group] ?? [:]).filter { $0.key <= recovered }
                }
                durable = written
            }
        }
        if case .tornPrefix = mode { #expect(tornSeen > 0, "torn tails should occur and be cut") }
    }
}
