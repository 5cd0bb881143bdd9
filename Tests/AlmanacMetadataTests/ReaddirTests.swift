import Testing
@testable import AlmanacMetadata

@Suite("Readdir paging")
struct ReaddirTests {
    @Test func pagesListEverythingInByteOrder() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        let names = (0..<25).map { "n\($0)" } + ["Zebra", "apple", "é", "e\u{301}", "_"]
        for name in names { _ = h.create(dir, ByteString(name)) }
        _ = h.mkdir(dir, "subdir")
        var seen: [DirectoryEntry] = []
        var cursor: ReaddirCursor?
        var pages = 0
        repeat {
            let page = try h.machine.readdir(dir, after: cursor, limit: 4)
            #expect(page.entries.count <= 4)
            #expect(page.directoryVersion == (try h.machine.getattr(dir).version))
            seen += page.entries
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil
        #expect(pages == 8)  // 31 entries, 4 per page
        let expected = (names + ["subdir"]).map { ByteString($0) }.sorted()
        #expect(seen.map(\.name) == expected)
        #expect(seen.first { $0.name == "subdir" }?.type == .directory)
        #expect(seen.first { $0.name == "apple" }?.type == .regular)
        // Byte order: uppercase before underscore before lowercase, multi-byte UTF-8 last.
        #expect(Array(seen.map(\.name.string).prefix(2)) == ["Zebra", "_"])
        #expect(seen.last?.name == "é")
    }

    @Test func lastPageHasNoCursorAndEmptyDirectoryListsNothing() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        let empty = try h.machine.readdir(dir, limit: 10)
        #expect(empty.entries.isEmpty && empty.nextCursor == nil)
        _ = h.create(dir, "a")
        _ = h.create(dir, "b")
        let exact = try h.machine.readdir(dir, limit: 2)
        #expect(exact.entries.count == 2 && exact.nextCursor == nil)
        let first = try h.machine.readdir(dir, limit: 1)
        #expect(first.nextCursor == ReaddirCursor(after: "a"))
        // A cursor past every name (even one that never existed) yields an empty last page.
        let past = try h.machine.readdir(dir, after: ReaddirCursor(after: "zzz"), limit: 5)
        #expect(past.entries.isEmpty && past.nextCursor == nil)
        let file = h.create(dir, "f")
        #expect(queryError { () throws(MetadataError) in try h.machine.readdir(file, limit: 1) } == .enotdir)
    }

    @Test func cursorSurvivesConcurrentInsertsAndDeletes() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        for i in stride(from: 0, to: 100, by: 2) { _ = h.create(dir, ByteString(key(i))) }
        let first = try h.machine.readdir(dir, limit: 10)
        var listed = first.entries.map(\.name.string)
        #expect(listed.last == key(18))
        // Between pages: delete the cursor's own entry, entries already listed, and entries
        // not yet listed; insert before and after the cursor.
        h.ok(.unlink(parent: dir, name: ByteString(key(18))))
        h.ok(.unlink(parent: dir, name: ByteString(key(0))))
        h.ok(.unlink(parent: dir, name: ByteString(key(20))))
        h.ok(.unlink(parent: dir, name: ByteString(key(50))))
        _ = h.create(dir, ByteString(key(1)))
        _ = h.create(dir, ByteString(key(19)))
        _ = h.create(dir, ByteString(key(51)))
        var cursor = first.nextCursor
        while let current = cursor {
            let page = try h.machine.readdir(dir, after: current, limit: 10)
            listed += page.entries.map(\.name.string)
            cursor = page.nextCursor
        }
        #expect(Set(listed).count == listed.count, "an entry was listed twice")
        #expect(listed == listed.sorted { ByteString($0) < ByteString($1) })
        // Every entry that existed for the whole listing appears exactly once.
        for i in stride(from: 2, to: 100, by: 2) where ![18, 20, 50].contains(i) {
            #expect(listed.contains(key(i)), "lost \(key(i))")
        }
        #expect(!listed.contains(key(20)) && !listed.contains(key(50)))
        #expect(listed.contains(key(19)) && listed.contains(key(51)))  // inserted after the cursor
        #expect(!listed.contains(key(1)))  // inserted before the cursor
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func randomizedConcurrentMutationsNeverSkipOrRepeat(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        var present = Set<Int>()
        for _ in 0..<200 {
            let i = Int.random(in: 0..<1000, using: &rng)
            if present.insert(i).inserted { _ = h.create(dir, ByteString(key(i))) }
        }
        let stable = present  // candidates that may survive the whole listing
        var touched = Set<Int>()
        var listed: [String] = []
        var cursor: ReaddirCursor?
        repeat {
            let page = try h.machine.readdir(dir, after: cursor, limit: Int.random(in: 1...17, using: &rng))
            listed += page.entries.map(\.name.string)
            cursor = page.nextCursor
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                let i = Int.random(in: 0..<1000, using: &rng)
                touched.insert(i)
                if present.contains(i) {
                    h.ok(.unlink(parent: dir, name: ByteString(key(i))))
                    present.remove(i)
                } else {
                    _ = h.create(dir, ByteString(key(i)))
                    present.insert(i)
                }
            }
        } while cursor != nil
        #expect(Set(listed).count == listed.count, "an entry was listed twice")
        for i in stable.subtracting(touched) { #expect(listed.contains(key(i)), "lost untouched \(key(i))") }
        for name in listed { #expect(stable.union(touched).contains(Int(name.dropFirst()) ?? -1)) }
    }

    private func key(_ i: Int) -> String {
        let digits = String(i)
        return "k" + String(repeating: "0", count: 4 - digits.count) + digits
    }
}
