import Testing
@testable import AlmanacStorage

@Suite struct InMemoryFileSystemTests {
    @Test func unsyncedWritesAreLostOnCrash() throws {
        let fs = InMemoryFileSystem()
        try fs.createDirectory("/d")
        let file = try fs.open("/d/f", create: true)
        try fs.syncDirectory("/d")
        try file.write([1, 2, 3], at: 0)
        try file.dataSync()
        try file.write([4, 5], at: 3)
        #expect(try fs.contents("/d/f") == [1, 2, 3, 4, 5])
        fs.crash(.loseUnsynced)
        #expect(try fs.contents("/d/f") == [1, 2, 3])
        #expect(throws: StorageError.staleHandle(path: "/d/f")) { try file.write([9], at: 0) }
    }

    @Test func namesNeedDirectorySync() throws {
        let fs = InMemoryFileSystem()
        try fs.createDirectory("/d")
        let a = try fs.open("/d/a", create: true)
        try a.write([1], at: 0)
        try a.sync()
        fs.crash(.loseUnsynced)
        #expect(!fs.exists("/d/a"), "created but directory never synced")

        let b = try fs.open("/d/b.tmp", create: true)
        try b.write([7], at: 0)
        try b.sync()
        try fs.syncDirectory("/d")
        try fs.rename("/d/b.tmp", to: "/d/b")
        fs.crash(.loseUnsynced)
        #expect(fs.exists("/d/b.tmp") && !fs.exists("/d/b"), "rename not durable without directory sync")
        try fs.rename("/d/b.tmp", to: "/d/b")
        try fs.syncDirectory("/d")
        fs.crash(.loseUnsynced)
        #expect(try fs.contents("/d/b") == [7])
    }

    @Test func tornCrashKeepsAPrefixOfUnsyncedWrites() throws {
        var sawTorn = false
        for seed in UInt64(0)..<64 {
            let fs = InMemoryFileSystem()
            try fs.createDirectory("/d")
            let file = try fs.open("/d/f", create: true)
            try fs.syncDirectory("/d")
            try file.write([UInt8](repeating: 1, count: 10), at: 0)
            try file.dataSync()
            let tail = (0..<30).map { UInt8(100 + $0) }
            try file.write(Array(tail[0..<10]), at: 10)
            try file.write(Array(tail[10..<20]), at: 20)
            try file.write(Array(tail[20..<30]), at: 30)
            fs.crash(.tornPrefix, seed: seed)
            let image = try fs.contents("/d/f")
            #expect(Array(image[0..<10]) == [UInt8](repeating: 1, count: 10))
            let kept = Array(image[10...])
            #expect(kept == Array(tail[0..<kept.count]), "seed \(seed): not a prefix")
            if kept.count % 10 != 0 { sawTorn = true }
        }
        #expect(sawTorn)
    }

    @Test func syncFailureInjectionAndBitFlip() throws {
        let fs = InMemoryFileSystem()
        try fs.createDirectory("/d")
        let file = try fs.open("/d/f", create: true)
        try file.write([0, 0], at: 0)
        fs.failSyncs(after: 1)
        try file.dataSync()
        #expect(throws: StorageError.self) { try file.dataSync() }
        try fs.flipBit("/d/f", byteOffset: 1, bit: 3)
        #expect(try fs.contents("/d/f") == [0, 8])
    }

    @Test func locksAreExclusiveUntilReleasedOrCrash() throws {
        let fs = InMemoryFileSystem()
        try fs.createDirectory("/d")
        let lock = try fs.lock("/d/LOCK")
        #expect(throws: StorageError.directoryLocked(path: "/d/LOCK")) { _ = try fs.lock("/d/LOCK") }
        lock.unlock()
        _ = try fs.lock("/d/LOCK")
        fs.crash(.loseUnsynced)
        _ = try fs.lock("/d/LOCK")
    }

    @Test func atomicWritesInPiecesKeepEveryByteAndAreDurableOnlyWhole() throws {
        let fs = InMemoryFileSystem()
        try fs.createDirectory("/d")
        let bytes = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        // Crash with the syncs failing part-way: the name never appears half-written.
        fs.failSyncs(after: 2)
        #expect(throws: (any Error).self) { try fs.writeFileAtomically("/d/big", bytes: bytes, syncEveryBytes: 4096) }
        fs.crash(.loseUnsynced)
        #expect(!fs.exists("/d/big"))

        let healthy = InMemoryFileSystem()
        try healthy.createDirectory("/d")
        try healthy.writeFileAtomically("/d/big", bytes: bytes, syncEveryBytes: 4096)
        healthy.crash(.loseUnsynced)
        #expect(try healthy.contents("/d/big") == bytes)
        #expect(!healthy.exists("/d/big.tmp"))
    }
}
