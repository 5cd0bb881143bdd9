import AlmanacClient
import AlmanacWire
import Foundation
import Testing

/// Runs `body` and returns the client error it throws (nil if it succeeded).
func clientError<T>(_ body: () async throws -> T) async -> AlmanacClientError? {
    do {
        _ = try await body()
        return nil
    } catch let error as AlmanacClientError {
        return error
    } catch {
        Issue.record("expected an AlmanacClientError, got \(error)")
        return nil
    }
}

@Suite struct ClientOperationTests {
    @Test func everyOperationThroughTheRealProtocol() async throws {
        let cluster = try await TestServer.start()
        let client = cluster.client()

        let dir = try await client.mkdir(parent: rootInode, name: "docs", mode: 0o750)
        #expect(dir.type == .directory && dir.mode == 0o750 && dir.nlink == 2)
        let file = try await client.create(parent: dir.inode, name: "a.txt", mode: 0o600)
        #expect(file.type == .regular && file.size == 0 && file.nlink == 1)
        #expect(try await client.lookup(parent: dir.inode, name: "a.txt").inode == file.inode)
        #expect(try await client.getattr(file.inode).mode == 0o600)

        let changed = try await client.setattr(file.inode, AttributeChanges(mode: 0o644, uid: 7, size: 123, mtimeNanoseconds: 99))
        #expect(changed.mode == 0o644 && changed.uid == 7 && changed.size == 123 && changed.mtimeNs == 99)

        // touch: existing regular file returned unchanged; create without openExisting: EEXIST.
        #expect(try await client.create(parent: dir.inode, name: "a.txt", openExisting: true).inode == file.inode)
        #expect(await clientError { try await client.create(parent: dir.inode, name: "a.txt") }?.code == .eexist)
        // touch of an existing directory: EEXIST (only regular files are returned).
        #expect(await clientError { try await client.create(parent: rootInode, name: "docs", openExisting: true) }?.code == .eexist)

        let hard = try await client.link(file.inode, newParent: rootInode, newName: "hard")
        #expect(hard.inode == file.inode && hard.nlink == 2)
        let link = try await client.symlink(parent: rootInode, name: "ln", target: "/docs/a.txt")
        #expect(link.type == .symlink)
        #expect(try await client.readlink(link.inode) == "/docs/a.txt")

        try await client.rename(parent: dir.inode, name: "a.txt", newParent: dir.inode, newName: "b.txt")
        #expect(await clientError { try await client.lookup(parent: dir.inode, name: "a.txt") }?.code == .enoent)
        #expect(try await client.lookup(parent: dir.inode, name: "b.txt").inode == file.inode)

        let opened = try await client.open(parent: dir.inode, name: "new", flags: [.read, .write, .create])
        #expect(opened.created && opened.attributes.type == .regular)
        let again = try await client.open(parent: dir.inode, name: "new", flags: [.read])
        #expect(!again.created && again.attributes.inode == opened.attributes.inode)
        try await client.close(opened)
        try await client.close(again)
        #expect(await clientError { try await client.close(again) }?.code == .ebadf)

        try await client.unlink(parent: rootInode, name: "hard")
        #expect(try await client.getattr(file.inode).nlink == 1)
        #expect(await clientError { try await client.rmdir(parent: rootInode, name: "docs") }?.code == .enotempty)
        try await client.unlink(parent: dir.inode, name: "b.txt")
        try await client.unlink(parent: dir.inode, name: "new")
        try await client.rmdir(parent: rootInode, name: "docs")
        #expect(await clientError { try await client.getattr(dir.inode) }?.code == .enoent)

        let status = try await client.status()
        #expect(status.responderNodeID == 1 && status.shards.count == 1)
        await client.shutdown()
        await cluster.stop()
    }

    @Test func typedErrorsForBadInput() async throws {
        let cluster = try await TestServer.start()
        let client = cluster.client()
        let cases: [(String, Almanac_Api_V1_ErrorCode)] = [
            ("", .einval), (".", .einval), ("..", .einval), ("a/b", .einval), ("a\u{0}b", .einval),
            (String(repeating: "x", count: 256), .enametoolong),
        ]
        for (name, code) in cases {
            let error = await clientError { try await client.mkdir(parent: rootInode, name: name) }
            #expect(error?.code == code, "name \(name.debugDescription)")
            #expect(error?.kind == .operation)
            #expect(error?.isClusterUnavailable == false)
        }
        #expect(await clientError { try await client.mkdir(parent: rootInode, name: "m", mode: 0o170000) }?.code == .einval)
        #expect(await clientError { try await client.getattr(123_456) }?.code == .enoent)
        #expect(await clientError { try await client.getattr(0) }?.code == .einval)
        let file = try await client.create(parent: rootInode, name: "f")
        #expect(await clientError { try await client.mkdir(parent: file.inode, name: "x") }?.code == .enotdir)
        #expect(await clientError { try await client.link(rootInode, newParent: rootInode, newName: "rootlink") }?.code == .eperm)
        #expect(await clientError { try await client.readlink(file.inode) }?.code == .einval)
        // An inode of a segment outside the map's keying: refused by the client's router.
        let error = await clientError { try await client.getattr(UInt64(5000) << 48 | 5) }
        #expect(error?.code == .einval && error?.kind == .invalidArgument)
        // Nothing changed: only the file exists.
        let names = try await client.readdir(rootInode).collect().map(\.name)
        #expect(names == ["f"])
        await client.shutdown()
        await cluster.stop()
    }

    @Test func readdirPagesThroughLargeDirectories() async throws {
        let cluster = try await TestServer.start()
        let client = cluster.client()
        let dir = try await client.mkdir(parent: rootInode, name: "big")
        let names = (0..<53).map { String(format: "f%03d", $0) }
        for name in names { _ = try await client.create(parent: dir.inode, name: name) }
        let listed = try await client.readdir(dir.inode, pageSize: 7, withAttributes: true).collect()
        #expect(listed.map(\.name) == names)
        #expect(listed.allSatisfy { $0.attributes.type == .regular && $0.attributes.inode == $0.inode })
        let first = try await client.readdirPage(dir.inode, limit: 10)
        #expect(first.entries.count == 10 && first.nextCursor != nil)
        let rest = try await client.readdirPage(dir.inode, cursor: first.nextCursor, limit: 100)
        #expect(rest.entries.count == 43 && rest.nextCursor == nil)
        await client.shutdown()
        await cluster.stop()
    }

    @Test func pathHelpers() async throws {
        let cluster = try await TestServer.start()
        let client = cluster.client()
        _ = try await client.mkdir(path: "/a")
        _ = try await client.mkdir(path: "/a/b")
        let c = try await client.create(path: "/a/b/c")
        #expect(try await client.resolve("/a/b/c").inode == c.inode)
        #expect(try await client.resolve("/a/./b/../b//c").inode == c.inode)
        #expect(try await client.resolve("/").inode == rootInode)
        #expect(await clientError { try await client.resolve("a/b") }?.kind == .invalidArgument)
        #expect(await clientError { try await client.resolve("/a/x/c") }?.code == .enoent)
        try await client.rename(from: "/a/b/c", to: "/a")  // into an existing directory
        #expect(try await client.resolve("/a/c").inode == c.inode)
        try await client.rename(from: "/a/c", to: "/a/d")
        #expect(try await client.resolve("/a/d").inode == c.inode)
        try await client.unlink(path: "/a/d")
        try await client.rmdir(path: "/a/b")
        #expect(try await client.readdir(rootInode).collect().map(\.name) == ["a"])
        await client.shutdown()
        await cluster.stop()
    }
}
