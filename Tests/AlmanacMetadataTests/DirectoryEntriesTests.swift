import Testing
@testable import AlmanacMetadata

/// A directory's entries (names back to back in one buffer, sorted slots) against a plain model:
/// random inserts, replacements and removals, with compactions on the way; lookups, pages after a
/// cursor and equality must match the model at every step.
@Suite struct DirectoryEntriesTests {
    /// Names of 1...40 bytes, some sharing prefixes, some multi-byte UTF-8 (byte order, not Unicode order).
    static func name(_ random: inout SystemRandomNumberGenerator, pool: Int) -> ByteString {
        let stems = ["a", "ab", "abc", "b", "zz", "é", "e\u{301}", "日本", "x-long-name-over-fifteen-bytes-"]
        let stem = stems[Int.random(in: 0..<stems.count, using: &random)]
        return ByteString(stem + String(Int.random(in: 0..<pool, using: &random)))
    }

    static func bytesOrder(_ a: ByteString, _ b: ByteString) -> Bool { Array(a.string.utf8).lexicographicallyPrecedes(Array(b.string.utf8)) }

    @Test func randomChangesMatchASortedModel() {
        var random = SystemRandomNumberGenerator()
        for round in 0..<20 {
            // Chunks of 4, 32 or the default: splits, merges of small neighbours and emptied chunks.
            var entries = [DirectoryEntries(chunkCapacity: 4), DirectoryEntries(chunkCapacity: 32), DirectoryEntries()][round % 3]
            var model: [ByteString: DirectoryEntries.Entry] = [:]
            let pool = [5, 50, 500, 5000][round % 4]
            for step in 0..<2_000 {
                let name = Self.name(&random, pool: pool)
                if Bool.random(using: &random) || model.isEmpty {
                    let entry = DirectoryEntries.Entry(child: InodeID(UInt64(step + 2)), type: FileType.allCases[step % 3])
                    entries.set(name, to: entry.child, type: entry.type)
                    model[name] = entry
                } else {
                    #expect(entries.remove(name) == model.removeValue(forKey: name)?.child)
                }
                if step % 97 == 0 {
                    let sorted = model.keys.sorted(by: Self.bytesOrder)
                    #expect(entries.count == model.count)
                    #expect(entries.namedEntries.map(\.name) == sorted)
                    for key in sorted { #expect(entries.entry(key) == model[key]) }
                    let probe = Self.name(&random, pool: pool * 2)  // present or absent
                    #expect(entries.entry(probe) == model[probe])
                    // Pages after a cursor that is, or is not, an entry.
                    let cursor = Self.name(&random, pool: pool)
                    let after = sorted.filter { Self.bytesOrder(cursor, $0) }
                    #expect(entries.page(after: cursor, limit: 7).map(\.name) == Array(after.prefix(7)))
                    #expect(entries.hasEntries(after: cursor) == !after.isEmpty)
                    // Equal to the same entries built from scratch, whatever garbage the buffer holds.
                    let rebuilt = DirectoryEntries.fromSorted(sorted.compactMap { key in model[key].map { (key, $0.child, $0.type) } })
                    #expect(rebuilt == entries)
                    #expect(rebuilt?.hashValue == entries.hashValue)
                    #expect(entries.subdirectoryCount == model.values.filter { $0.type == .directory }.count)
                }
            }
        }
    }

    /// A large directory filled in random order and emptied again: every chunk boundary is crossed
    /// by inserts and removals, and the positions (pages, entry at an index) stay those of the
    /// sorted names.
    @Test func largeDirectoryInRandomOrderKeepsPositionsAcrossChunks() {
        var random = SystemRandomNumberGenerator()
        var entries = DirectoryEntries(chunkCapacity: 16)
        var names = (0..<3_000).map { ByteString("f\(($0 &* 2_654_435_761) % 100_000)") }
        names.shuffle(using: &random)
        for (number, name) in names.enumerated() { entries.set(name, to: InodeID(UInt64(number + 2)), type: .regular) }
        let sorted = names.sorted(by: Self.bytesOrder)
        #expect(entries.count == sorted.count)
        for index in stride(from: 0, to: sorted.count, by: 37) {
            #expect(entries.name(at: index) == sorted[index])
            #expect(entries.page(after: sorted[index], limit: 3).map(\.name) == Array(sorted[(index + 1)..<min(sorted.count, index + 4)]))
        }
        var seen: [ByteString] = []
        entries.forEachEntry { bytes, _ in seen.append(ByteString(String(decoding: bytes, as: UTF8.self))) }
        #expect(seen == sorted)
        // Equal to the same names restored in half-full chunks of another size.
        let restored = DirectoryEntries.fromSorted(sorted.map { ($0, entries[$0] ?? InodeID(0), FileType.regular) })
        #expect(restored == entries && restored?.hashValue == entries.hashValue)
        names.shuffle(using: &random)
        for name in names.prefix(2_990) { #expect(entries.remove(name) != nil) }
        #expect(entries.count == 10)
        #expect(entries.namedEntries.map(\.name) == names.suffix(10).sorted(by: Self.bytesOrder))
        for name in names.suffix(10) { entries.remove(name) }
        #expect(entries.isEmpty && entries == DirectoryEntries() && entries.page(after: nil, limit: 5).isEmpty)
    }

    @Test func aSlotIsSixteenBytesAndItsOffsetReachesPastFourGigabytes() {
        #expect(MemoryLayout<DirectoryEntries.Slot>.stride == 16)
        var slot = DirectoryEntries.Slot(child: InodeID(7), offset: (1 << 32) + 5, length: 255, type: .symlink)
        #expect(slot.offset == (1 << 32) + 5 && slot.length == 255 && slot.type == .symlink && slot.child == InodeID(7))
        slot.offset = (1 << 39) + (1 << 31)
        #expect(slot.offset == (1 << 39) + (1 << 31))
    }

    @Test func fromSortedRefusesNamesOutOfOrderAndRemovingEverythingEmptiesTheBuffer() {
        #expect(DirectoryEntries.fromSorted([("b", InodeID(2), .regular), ("a", InodeID(3), .regular)]) == nil)
        #expect(DirectoryEntries.fromSorted([("a", InodeID(2), .regular), ("a", InodeID(3), .regular)]) == nil)
        var entries = DirectoryEntries()
        entries.set("one", to: InodeID(2), type: .regular)
        entries.set("two", to: InodeID(3), type: .directory)
        entries.set("one", to: InodeID(4), type: .symlink)  // a replacement
        #expect(entries.count == 2 && entries.entry("one") == .init(child: InodeID(4), type: .symlink))
        #expect(entries.remove("absent") == nil)
        #expect(entries.remove("one") == InodeID(4) && entries.remove("two") == InodeID(3))
        #expect(entries.isEmpty && entries == DirectoryEntries())
    }
}
