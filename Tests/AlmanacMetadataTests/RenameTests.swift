import Testing
@testable import AlmanacMetadata

@Suite("Rename")
struct RenameTests {
    @Test func renameFileWithinADirectory() throws {
        var h = Harness()
        let file = h.create(.root, "a")
        h.ok(.rename(fromParent: .root, fromName: "a", toParent: .root, toName: "b"))
        #expect(h.names(.root) == ["b"])
        let moved = try h.machine.getattr(file)
        #expect(moved.ctime == h.time && moved.nlink == 1)
        #expect(try h.machine.getattr(.root).mtime == h.time)
    }

    @Test func renameFileAcrossDirectories() throws {
        var h = Harness()
        let src = h.mkdir(.root, "src")
        let dst = h.mkdir(.root, "dst")
        let file = h.create(src, "f")
        h.ok(.rename(fromParent: src, fromName: "f", toParent: dst, toName: "g"))
        #expect(h.names(src).isEmpty && h.names(dst) == ["g"])
        #expect(try h.machine.lookup(parent: dst, name: "g").id == file)
        #expect(try h.machine.getattr(src).mtime == h.time && h.machine.getattr(dst).mtime == h.time)
        #expect(try h.machine.getattr(src).nlink == 2 && h.machine.getattr(dst).nlink == 2)
    }

    @Test func renameDirectoryMovesParentLinks() throws {
        var h = Harness()
        let a = h.mkdir(.root, "a")
        let b = h.mkdir(.root, "b")
        let sub = h.mkdir(a, "sub")
        _ = h.create(sub, "deep")
        h.ok(.rename(fromParent: a, fromName: "sub", toParent: b, toName: "moved"))
        #expect(try h.machine.getattr(a).nlink == 2)
        #expect(try h.machine.getattr(b).nlink == 3)
        #expect(try h.machine.resolve(path: "/b/moved/deep").type == .regular)
        #expect(h.machine.inodes[sub]?.parent == b)
        // Now "a" can be removed and "b" cannot.
        h.ok(.rmdir(parent: .root, name: "a"))
        h.fails(.enotempty, .rmdir(parent: .root, name: "b"))
    }

    @Test func renameReplacesAnExistingFile() throws {
        var h = Harness()
        let a = h.create(.root, "a")
        let b = h.create(.root, "b")
        h.ok(.rename(fromParent: .root, fromName: "a", toParent: .root, toName: "b"))
        #expect(h.names(.root) == ["b"])
        #expect(try h.machine.lookup(parent: .root, name: "b").id == a)
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(b) } == .enoent)
    }

    @Test func renameOverAHardLinkedFileKeepsItsOtherLink() throws {
        var h = Harness()
        _ = h.create(.root, "a")
        let b = h.create(.root, "b")
        h.ok(.link(target: b, parent: .root, name: "b2"))
        h.ok(.rename(fromParent: .root, fromName: "a", toParent: .root, toName: "b"))
        let survivor = try h.machine.getattr(b)
        #expect(survivor.nlink == 1 && survivor.ctime == h.time)
        #expect(h.names(.root) == ["b", "b2"])
    }

    @Test func renameReplacesAnEmptyDirectory() throws {
        var h = Harness()
        let x = h.mkdir(.root, "x")
        let p = h.mkdir(.root, "p")
        let y = h.mkdir(p, "y")
        #expect(try h.machine.getattr(.root).nlink == 4)
        h.ok(.rename(fromParent: .root, fromName: "x", toParent: p, toName: "y"))
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(y) } == .enoent)
        #expect(try h.machine.lookup(parent: p, name: "y").id == x)
        #expect(try h.machine.getattr(.root).nlink == 3)
        #expect(try h.machine.getattr(p).nlink == 3)
        // Same parent: replacing drops one subdirectory.
        _ = h.mkdir(p, "z")
        h.ok(.rename(fromParent: p, fromName: "y", toParent: p, toName: "z"))
        #expect(try h.machine.getattr(p).nlink == 3)
        #expect(h.names(p) == ["z"])
    }

    @Test func renameRefusesANonEmptyDirectory() {
        var h = Harness()
        _ = h.mkdir(.root, "x")
        let y = h.mkdir(.root, "y")
        _ = h.create(y, "keep")
        h.fails(.enotempty, .rename(fromParent: .root, fromName: "x", toParent: .root, toName: "y"))
    }

    @Test func renameRefusesTypeMismatches() {
        var h = Harness()
        _ = h.mkdir(.root, "dir")
        _ = h.create(.root, "file")
        h.fails(.enotdir, .rename(fromParent: .root, fromName: "dir", toParent: .root, toName: "file"))
        h.fails(.eisdir, .rename(fromParent: .root, fromName: "file", toParent: .root, toName: "dir"))
    }

    @Test func renameRefusesMovingADirectoryIntoItsOwnSubtree() {
        var h = Harness()
        let a = h.mkdir(.root, "a")
        let b = h.mkdir(a, "b")
        let c = h.mkdir(b, "c")
        h.fails(.eloop, .rename(fromParent: .root, fromName: "a", toParent: a, toName: "self"))
        h.fails(.eloop, .rename(fromParent: .root, fromName: "a", toParent: c, toName: "loop"))
        h.fails(.eloop, .rename(fromParent: a, fromName: "b", toParent: c, toName: "loop"))
        // Moving up is fine.
        h.ok(.rename(fromParent: b, fromName: "c", toParent: .root, toName: "c"))
        #expect(h.names(.root) == ["a", "c"])
    }

    @Test func renameToTheSameNameOrAnotherLinkIsANoOp() throws {
        var h = Harness()
        let file = h.create(.root, "f")
        _ = h.mkdir(.root, "d")
        let before = h.machine
        h.ok(.rename(fromParent: .root, fromName: "f", toParent: .root, toName: "f"))
        h.ok(.rename(fromParent: .root, fromName: "d", toParent: .root, toName: "d"))
        #expect(h.machine.namespaceEquals(before))
        h.ok(.link(target: file, parent: .root, name: "g"))
        let linked = h.machine
        h.ok(.rename(fromParent: .root, fromName: "f", toParent: .root, toName: "g"))
        #expect(h.machine.namespaceEquals(linked))
        #expect(h.names(.root) == ["d", "f", "g"])
    }

    @Test func renameErrors() {
        var h = Harness()
        let file = h.create(.root, "f")
        let d = h.mkdir(.root, "d")
        h.ok(.rmdir(parent: .root, name: "d"))
        h.fails(.enoent, .rename(fromParent: .root, fromName: "missing", toParent: .root, toName: "x"))
        h.fails(.enotdir, .rename(fromParent: file, fromName: "x", toParent: .root, toName: "x"))
        h.fails(.enotdir, .rename(fromParent: .root, fromName: "f", toParent: file, toName: "x"))
        h.fails(.enoent, .rename(fromParent: .root, fromName: "f", toParent: d, toName: "x"))
        h.disownForeignSegment()
        h.fails(.crossShard, .rename(fromParent: .root, fromName: "f", toParent: InodeID(segment: Harness.foreignSegment, counter: 2), toName: "x"))
        h.fails(.wrongShard, .rename(fromParent: InodeID(segment: Harness.foreignSegment, counter: 2), fromName: "f", toParent: .root, toName: "x"))
    }

    @Test func renameDirectoryRespectsTheLinkLimit() {
        var h = Harness(config: MetadataConfig(limits: MetadataLimits(maxLinks: 4)))
        let a = h.mkdir(.root, "a")
        _ = h.mkdir(.root, "y")  // root.nlink == 4
        _ = h.mkdir(a, "x")
        _ = h.mkdir(a, "x2")  // a.nlink == 4
        h.fails(.emlink, .rename(fromParent: .root, fromName: "y", toParent: a, toName: "y"))
        // Replacing an empty directory does not add a link, so it is allowed.
        h.ok(.rename(fromParent: .root, fromName: "y", toParent: a, toName: "x"))
    }

    @Test func renameOverAnOpenFileKeepsItAsAnOrphan() throws {
        var h = Harness()
        _ = h.create(.root, "a")
        guard case let .opened(handle, target, _) = h.ok(.open(
            parent: .root, name: "b", flags: OpenFlags(access: .readWrite, create: true), mode: 0o644, uid: 0, gid: 0))
        else { Issue.record("no handle"); return }
        h.ok(.rename(fromParent: .root, fromName: "a", toParent: .root, toName: "b"))
        #expect(try h.machine.getattr(target.id).nlink == 0)
        h.ok(.close(handle: handle))
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(target.id) } == .enoent)
    }
}
