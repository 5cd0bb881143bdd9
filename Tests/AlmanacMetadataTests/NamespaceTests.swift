import Testing
@testable import AlmanacMetadata

@Suite("Namespace operations")
struct NamespaceTests {
    @Test func freshStateHasOnlyTheRoot() throws {
        let machine = MetadataStateMachine()
        let root = try machine.getattr(.root)
        #expect(root.type == .directory)
        #expect(root.nlink == 2)
        #expect(root.mode == 0o755)
        #expect(machine.inodeCount == 1)
        #expect(machine.appliedIndex == 0)
    }

    @Test func mkdirCreatesDirectoryAndUpdatesParent() throws {
        var h = Harness()
        let rootBefore = try h.machine.getattr(.root)
        let dir = h.attributes(.mkdir(parent: .root, name: "docs", mode: 0o750, uid: 5, gid: 6))
        #expect(dir.type == .directory)
        #expect(dir.mode == 0o750)
        #expect(dir.uid == 5 && dir.gid == 6)
        #expect(dir.nlink == 2)
        #expect(dir.version == 1)
        #expect(dir.atime == h.time && dir.mtime == h.time && dir.ctime == h.time)
        let root = try h.machine.getattr(.root)
        #expect(root.nlink == 3)
        #expect(root.mtime == h.time && root.ctime == h.time)
        #expect(root.version == rootBefore.version + 1)
        #expect(try h.machine.lookup(parent: .root, name: "docs") == dir)
        // Type bits matching a directory are accepted.
        let typed = h.attributes(.mkdir(parent: .root, name: "typed", mode: 0o040700, uid: 0, gid: 0))
        #expect(typed.mode == 0o700)
    }

    @Test func mkdirErrors() {
        var h = Harness()
        let file = h.create(.root, "file")
        _ = h.mkdir(.root, "dir")
        h.fails(.eexist, .mkdir(parent: .root, name: "dir", mode: 0o755, uid: 0, gid: 0))
        h.fails(.eexist, .mkdir(parent: .root, name: "file", mode: 0o755, uid: 0, gid: 0))
        h.fails(.enotdir, .mkdir(parent: file, name: "x", mode: 0o755, uid: 0, gid: 0))
        h.fails(.enoent, .mkdir(parent: InodeID(999), name: "x", mode: 0o755, uid: 0, gid: 0))
        h.fails(.einval, .mkdir(parent: .root, name: "x", mode: 0o100755, uid: 0, gid: 0))
        h.fails(.einval, .mkdir(parent: .root, name: "x", mode: 0o755, uid: UInt32.max, gid: 0))
    }

    @Test func mkdirRefusesBeyondTheLinkLimit() {
        var h = Harness(config: MetadataConfig(limits: MetadataLimits(maxLinks: 4)))
        _ = h.mkdir(.root, "a")
        _ = h.mkdir(.root, "b")  // root nlink is now 4
        h.fails(.emlink, .mkdir(parent: .root, name: "c", mode: 0o755, uid: 0, gid: 0))
        _ = h.create(.root, "file-is-fine")
    }

    @Test func createMakesRegularFile() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        let file = h.attributes(.create(parent: dir, name: "f.txt", mode: 0o100640, uid: 1, gid: 2))
        #expect(file.type == .regular)
        #expect(file.mode == 0o640)
        #expect(file.fullMode == 0o100640)
        #expect(file.size == 0 && file.nlink == 1)
        #expect(try h.machine.getattr(dir).nlink == 2)
        h.fails(.eexist, .create(parent: dir, name: "f.txt", mode: 0o644, uid: 0, gid: 0))
        h.fails(.einval, .create(parent: dir, name: "g", mode: 0o040644, uid: 0, gid: 0))
        h.fails(.einval, .create(parent: dir, name: "g", mode: 0o200000, uid: 0, gid: 0))
        h.fails(.enotdir, .create(parent: file.id, name: "g", mode: 0o644, uid: 0, gid: 0))
        h.fails(.einval, .create(parent: dir, name: "g", mode: 0o644, uid: 0, gid: UInt32.max))
    }

    @Test func idsComeFromTheirSegment() {
        var h = Harness(config: MetadataConfig(shardID: 5))
        let a = h.mkdir(.root, "a")
        let b = h.create(a, "b")
        let c = h.create(.root, "c")
        // A directory gets the hashed segment of (parent, name); its children share it.
        #expect(a.segment == h.machine.config.keying.segmentForNewDirectory(parent: .root, name: Array("a".utf8)))
        #expect(b.segment == a.segment && a.counter == 1 && b.counter == 2)
        #expect(c.segment == InodeID.root.segment && c.counter == 2)
    }

    @Test func lookupAndGetattrErrors() {
        var h = Harness()
        let file = h.create(.root, "f")
        #expect(queryError { () throws(MetadataError) in try h.machine.lookup(parent: .root, name: "missing") } == .enoent)
        #expect(queryError { () throws(MetadataError) in try h.machine.lookup(parent: file, name: "x") } == .enotdir)
        #expect(queryError { () throws(MetadataError) in try h.machine.lookup(parent: InodeID(0), name: "x") } == .einval)
        #expect(queryError { () throws(MetadataError) in try h.machine.lookup(parent: .root, name: "..") } == .einval)
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(InodeID(12345)) } == .enoent)
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(InodeID(0)) } == .einval)
        #expect(queryError { () throws(MetadataError) in try h.foreignMachine().getattr(InodeID(segment: Harness.foreignSegment, counter: 2)) } == .wrongShard)
        #expect(queryError { () throws(MetadataError) in try h.machine.resolve(path: "/f") } == nil)
        #expect(queryError { () throws(MetadataError) in try h.machine.resolve(path: "f") } == .einval)
        #expect(queryError { () throws(MetadataError) in try h.machine.resolve(path: "/f/x") } == .enotdir)
    }

    @Test func setattrChangesEachAttribute() throws {
        var h = Harness()
        let file = h.create(.root, "f")
        let before = try h.machine.getattr(file)
        var after = h.attributes(.setattr(id: file, changes: SetAttributes(mode: 0o600)))
        #expect(after.mode == 0o600 && after.ctime == h.time && after.mtime == before.mtime)
        #expect(after.version == before.version + 1)
        after = h.attributes(.setattr(id: file, changes: SetAttributes(uid: 42, gid: 43)))
        #expect(after.uid == 42 && after.gid == 43)
        after = h.attributes(.setattr(id: file, changes: SetAttributes(size: 4096)))
        #expect(after.size == 4096 && after.mtime == h.time)
        let t1 = Timestamp(seconds: 5)
        let t2 = Timestamp(seconds: 6)
        after = h.attributes(.setattr(id: file, changes: SetAttributes(size: 10, atime: .set(t1), mtime: .set(t2))))
        #expect(after.size == 10 && after.atime == t1 && after.mtime == t2 && after.ctime == h.time)
        after = h.attributes(.setattr(id: file, changes: SetAttributes(atime: .now)))
        #expect(after.atime == h.time)
        // An empty change set changes nothing, not even the version.
        let unchanged = h.attributes(.setattr(id: file, changes: SetAttributes()))
        #expect(unchanged == after)
        #expect(try h.machine.getattr(file) == after)
        // Directory type bits are accepted for a directory.
        let dir = h.mkdir(.root, "d")
        #expect(h.attributes(.setattr(id: dir, changes: SetAttributes(mode: 0o041777))).mode == 0o1777)
    }

    @Test func setattrErrors() {
        var h = Harness()
        let file = h.create(.root, "f")
        let dir = h.mkdir(.root, "d")
        let link = h.attributes(.symlink(parent: .root, name: "l", target: "f", uid: 0, gid: 0)).id
        h.fails(.einval, .setattr(id: file, changes: SetAttributes(mode: 0o10000)))
        h.fails(.einval, .setattr(id: file, changes: SetAttributes(mode: 0o040644)))
        h.fails(.einval, .setattr(id: dir, changes: SetAttributes(mode: 0o100755)))
        h.fails(.eisdir, .setattr(id: dir, changes: SetAttributes(size: 1)))
        h.fails(.einval, .setattr(id: link, changes: SetAttributes(size: 1)))
        h.fails(.efbig, .setattr(id: file, changes: SetAttributes(size: UInt64.max)))
        h.fails(.einval, .setattr(id: file, changes: SetAttributes(uid: UInt32.max)))
        h.fails(.enoent, .setattr(id: InodeID(777), changes: SetAttributes(mode: 0o644)))
        h.fails(.einval, .setattr(id: InodeID(0), changes: SetAttributes(mode: 0o644)))
        h.disownForeignSegment()
        h.fails(.wrongShard, .setattr(id: InodeID(segment: Harness.foreignSegment, counter: 9), changes: SetAttributes(mode: 0o644)))
        // A failing change set changes nothing, not even the valid parts of it.
        h.fails(.eisdir, .setattr(id: dir, changes: SetAttributes(mode: 0o700, size: 1)))
    }

    @Test func unlinkRemovesFileAndRefusesDirectories() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        let file = h.create(dir, "f")
        h.fails(.eisdir, .unlink(parent: .root, name: "d"))
        h.fails(.enoent, .unlink(parent: dir, name: "missing"))
        h.fails(.enotdir, .unlink(parent: file, name: "x"))
        h.ok(.unlink(parent: dir, name: "f"))
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(file) } == .enoent)
        #expect(h.names(dir).isEmpty)
        #expect(try h.machine.getattr(dir).mtime == h.time)
        h.fails(.enoent, .unlink(parent: dir, name: "f"))
    }

    @Test func rmdirRemovesOnlyEmptyDirectories() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        _ = h.mkdir(dir, "sub")
        let file = h.create(.root, "f")
        h.fails(.enotempty, .rmdir(parent: .root, name: "d"))
        h.fails(.enotdir, .rmdir(parent: .root, name: "f"))
        h.fails(.enoent, .rmdir(parent: .root, name: "nope"))
        h.fails(.enotdir, .rmdir(parent: file, name: "x"))
        #expect(try h.machine.getattr(dir).nlink == 3)
        h.ok(.rmdir(parent: dir, name: "sub"))
        #expect(try h.machine.getattr(dir).nlink == 2)
        h.ok(.rmdir(parent: .root, name: "d"))
        #expect(try h.machine.getattr(.root).nlink == 2)
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(dir) } == .enoent)
        // The removed directory's id is now unknown.
        h.fails(.enoent, .create(parent: dir, name: "x", mode: 0o644, uid: 0, gid: 0))
    }

    @Test func linkAddsNamesAndCountsLinks() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        let file = h.create(.root, "f")
        let linked = h.attributes(.link(target: file, parent: dir, name: "g"))
        #expect(linked.id == file && linked.nlink == 2 && linked.ctime == h.time)
        #expect(try h.machine.lookup(parent: dir, name: "g").id == file)
        h.fails(.eexist, .link(target: file, parent: dir, name: "g"))
        h.fails(.eperm, .link(target: dir, parent: .root, name: "dirlink"))
        h.fails(.enoent, .link(target: InodeID(4242), parent: .root, name: "x"))
        h.fails(.enotdir, .link(target: file, parent: file, name: "x"))
        var foreign = h
        foreign.disownForeignSegment()
        foreign.fails(.crossShard, .link(target: InodeID(segment: Harness.foreignSegment, counter: 7), parent: .root, name: "x"))
        foreign.fails(.wrongShard, .link(target: file, parent: InodeID(segment: Harness.foreignSegment, counter: 7), name: "x"))
        h.ok(.unlink(parent: .root, name: "f"))
        #expect(try h.machine.getattr(file).nlink == 1)
        h.ok(.unlink(parent: dir, name: "g"))
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(file) } == .enoent)
    }

    @Test func linkRefusesBeyondTheLinkLimit() {
        var h = Harness(config: MetadataConfig(limits: MetadataLimits(maxLinks: 2)))
        let file = h.create(.root, "f")
        h.ok(.link(target: file, parent: .root, name: "g"))
        h.fails(.emlink, .link(target: file, parent: .root, name: "h"))
    }

    @Test func symlinkAndReadlink() throws {
        var h = Harness()
        let link = h.attributes(.symlink(parent: .root, name: "l", target: "../some/where", uid: 3, gid: 4))
        #expect(link.type == .symlink && link.mode == 0o777 && link.size == 13 && link.nlink == 1)
        #expect(try h.machine.readlink(link.id) == "../some/where")
        let file = h.create(.root, "f")
        #expect(queryError { () throws(MetadataError) in try h.machine.readlink(file) } == .einval)
        #expect(queryError { () throws(MetadataError) in try h.machine.readlink(InodeID(999)) } == .enoent)
        h.fails(.eexist, .symlink(parent: .root, name: "l", target: "x", uid: 0, gid: 0))
        h.fails(.enoent, .symlink(parent: .root, name: "m", target: "", uid: 0, gid: 0))
        h.fails(.einval, .symlink(parent: .root, name: "m", target: "a\u{0}b", uid: 0, gid: 0))
        h.fails(.enametoolong, .symlink(parent: .root, name: "m", target: ByteString(String(repeating: "x", count: 4097)), uid: 0, gid: 0))
        h.ok(.symlink(parent: .root, name: "m", target: ByteString(String(repeating: "x", count: 4096)), uid: 0, gid: 0))
        h.fails(.enotdir, .symlink(parent: file, name: "m", target: "x", uid: 0, gid: 0))
        h.ok(.unlink(parent: .root, name: "l"))
        #expect(queryError { () throws(MetadataError) in try h.machine.readlink(link.id) } == .enoent)
    }

    @Test func openCreatesTruncatesAndRespectsFlags() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        _ = h.attributes(.symlink(parent: .root, name: "l", target: "d", uid: 0, gid: 0))
        let rw = OpenFlags(access: .readWrite)
        // O_CREAT on a new name creates the file.
        guard case let .opened(h1, created, wasCreated) = h.ok(.open(
            parent: .root, name: "f", flags: OpenFlags(access: .readWrite, create: true), mode: 0o600, uid: 1, gid: 1))
        else { Issue.record("open did not return a handle"); return }
        #expect(wasCreated && created.type == .regular && created.mode == 0o600)
        // O_CREAT on an existing name opens it.
        guard case let .opened(h2, existing, createdAgain) = h.ok(.open(
            parent: .root, name: "f", flags: OpenFlags(access: .readOnly, create: true), mode: 0o644, uid: 0, gid: 0))
        else { Issue.record("open did not return a handle"); return }
        #expect(!createdAgain && existing.id == created.id && existing.mode == 0o600 && h1 != h2)
        h.ok(.setattr(id: created.id, changes: SetAttributes(size: 100)))
        // O_TRUNC resets the size.
        let truncated = h.attributes(.open(
            parent: .root, name: "f", flags: OpenFlags(access: .writeOnly, truncate: true), mode: 0, uid: 0, gid: 0))
        #expect(truncated.size == 0 && truncated.mtime == h.time)
        // Directories open read-only only.
        h.ok(.open(parent: .root, name: "d", flags: OpenFlags(), mode: 0, uid: 0, gid: 0))
        h.fails(.eisdir, .open(parent: .root, name: "d", flags: rw, mode: 0, uid: 0, gid: 0))
        h.fails(.eisdir, .open(parent: .root, name: "d", flags: OpenFlags(create: true), mode: 0o644, uid: 0, gid: 0))
        h.fails(.eexist, .open(parent: .root, name: "f", flags: OpenFlags(create: true, exclusive: true), mode: 0o644, uid: 0, gid: 0))
        h.fails(.enoent, .open(parent: .root, name: "new", flags: rw, mode: 0, uid: 0, gid: 0))
        h.fails(.einval, .open(parent: .root, name: "new", flags: OpenFlags(exclusive: true), mode: 0o644, uid: 0, gid: 0))
        h.fails(.einval, .open(parent: .root, name: "f", flags: OpenFlags(access: .readOnly, truncate: true), mode: 0, uid: 0, gid: 0))
        h.fails(.einval, .open(parent: .root, name: "new", flags: OpenFlags(create: true), mode: 0o040644, uid: 0, gid: 0))
        h.fails(.eloop, .open(parent: .root, name: "l", flags: OpenFlags(), mode: 0, uid: 0, gid: 0))
        h.fails(.enotdir, .open(parent: created.id, name: "x", flags: OpenFlags(), mode: 0, uid: 0, gid: 0))
        h.fails(.enoent, .open(parent: InodeID(4040), name: "x", flags: OpenFlags(), mode: 0, uid: 0, gid: 0))
        #expect(h.machine.openHandleCount == 4)
        _ = dir
    }

    @Test func closeReleasesHandles() throws {
        var h = Harness()
        guard case let .opened(handle, _, _) = h.ok(.open(
            parent: .root, name: "f", flags: OpenFlags(access: .readWrite, create: true), mode: 0o644, uid: 0, gid: 0))
        else { Issue.record("no handle"); return }
        #expect(h.machine.openHandleCount == 1)
        h.ok(.close(handle: handle))
        #expect(h.machine.openHandleCount == 0)
        h.fails(.ebadf, .close(handle: handle))
        h.fails(.ebadf, .close(handle: 9999))
    }

    @Test func closeRefusesAnotherSessionsHandle() {
        var h = Harness()
        guard case let .opened(handle, _, _) = h.ok(.open(
            parent: .root, name: "f", flags: OpenFlags(access: .readWrite, create: true), mode: 0o644, uid: 0, gid: 0))
        else { Issue.record("no handle"); return }
        let other = h.registerSession()
        let result = h.machine.apply(h.envelope(.close(handle: handle), sequence: 1, session: other), at: h.nextIndex())
        #expect(result.errorCode == .ebadf)
        #expect(h.machine.openHandleCount == 1)
    }

    @Test func unlinkedOpenFileLivesUntilLastClose() throws {
        var h = Harness()
        guard case let .opened(handle, file, _) = h.ok(.open(
            parent: .root, name: "f", flags: OpenFlags(access: .readWrite, create: true), mode: 0o644, uid: 0, gid: 0))
        else { Issue.record("no handle"); return }
        h.ok(.unlink(parent: .root, name: "f"))
        // Still reachable by id (fstat, ftruncate), no longer by name.
        #expect(try h.machine.getattr(file.id).nlink == 0)
        #expect(h.attributes(.setattr(id: file.id, changes: SetAttributes(size: 5))).size == 5)
        #expect(queryError { () throws(MetadataError) in try h.machine.lookup(parent: .root, name: "f") } == .enoent)
        h.fails(.enoent, .link(target: file.id, parent: .root, name: "again"))
        h.ok(.close(handle: handle))
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(file.id) } == .enoent)
        #expect(h.machine.inodeCount == 1)
    }

    @Test func removedOpenDirectoryIsEmptyAndRefusesNewEntries() throws {
        var h = Harness()
        let dir = h.mkdir(.root, "d")
        guard case let .opened(handle, _, _) = h.ok(.open(parent: .root, name: "d", flags: OpenFlags(), mode: 0, uid: 0, gid: 0))
        else { Issue.record("no handle"); return }
        h.ok(.rmdir(parent: .root, name: "d"))
        #expect(try h.machine.getattr(dir).nlink == 0)
        #expect(try h.machine.readdir(dir, limit: 10).entries.isEmpty)
        h.fails(.enoent, .create(parent: dir, name: "x", mode: 0o644, uid: 0, gid: 0))
        h.fails(.enoent, .mkdir(parent: dir, name: "x", mode: 0o755, uid: 0, gid: 0))
        h.ok(.close(handle: handle))
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(dir) } == .enoent)
    }

    @Test func keepAliveAndWrongShard() {
        var h = Harness(config: MetadataConfig(shardID: 1))
        #expect(h.ok(.keepAlive) == .done)
        let envelope = CommandEnvelope(shardID: 2, sessionID: h.session, sequence: 99, time: h.time, operation: .keepAlive)
        let before = h.machine
        let result = h.machine.apply(envelope, at: h.nextIndex())
        #expect(result.errorCode == .wrongShard)
        #expect(h.machine.namespaceEquals(before))
    }

    @Test func applyIgnoresOldIndexesAndClampsTime() throws {
        var h = Harness()
        _ = h.mkdir(.root, "a")
        let before = h.machine
        let replay = h.machine.apply(h.envelope(.mkdir(parent: .root, name: "b", mode: 0o755, uid: 0, gid: 0), sequence: 50), at: h.index)
        #expect(replay.errorCode == .alreadyApplied)
        #expect(h.machine == before)
        // A command stamped earlier than the clock (new leader with a slower clock) gets the clock's time.
        let late = CommandEnvelope(
            shardID: 0, sessionID: h.session, sequence: 51, time: Timestamp(seconds: 1),
            operation: .mkdir(parent: .root, name: "b", mode: 0o755, uid: 0, gid: 0))
        let clock = h.machine.clock
        guard case .success(.attributes(let b)) = h.machine.apply(late, at: h.nextIndex()) else {
            Issue.record("mkdir failed"); return
        }
        #expect(b.ctime == clock)
        #expect(h.machine.migrationTimestamp == 7)
    }
}
