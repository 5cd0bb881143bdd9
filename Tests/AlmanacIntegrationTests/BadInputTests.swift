import AlmanacTestSupport
import AlmanacClient
import AlmanacWire
import Foundation
import SwiftProtobuf
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Bad inputs through the real client protocol against a real 3-node cluster: documented errors,
/// no state change, connections closed cleanly on protocol violations, and the cluster keeps serving.
@Suite("Bad inputs against a real cluster", .serialized, .timeLimit(.minutes(2)))
struct BadInputTests {
    @Test("bad names, ids, modes and oversized or malformed frames get typed errors; the cluster keeps serving")
    func badInputs() async throws {
        let cluster = try await TestCluster.start(name: "badinput", shards: 2)
        defer { cluster.shutdown() }
        let client = cluster.client(operationTimeout: 15)
        defer { Task { await client.shutdown() } }
        _ = try await FailoverTests.waitForLeader(client)
        let directory = try await client.mkdir(parent: rootInode, name: "bad")

        func expectCode(_ expected: Almanac_Api_V1_ErrorCode, _ what: String, _ body: () async throws -> Void) async {
            do {
                try await body()
                Issue.record("\(what): succeeded, expected \(expected)")
            } catch let error as AlmanacClientError {
                #expect(error.code == expected, "\(what): got \(error)")
            } catch {
                Issue.record("\(what): unexpected error \(error)")
            }
        }
        for name in ["", ".", "..", "a/b", "nul\u{0}byte"] {
            await expectCode(.einval, "create \(name.debugDescription)") { _ = try await client.create(parent: directory.inode, name: name) }
            await expectCode(.einval, "mkdir \(name.debugDescription)") { _ = try await client.mkdir(parent: directory.inode, name: name) }
        }
        let long = String(repeating: "x", count: 256)
        await expectCode(.enametoolong, "create with a 256-byte name") { _ = try await client.create(parent: directory.inode, name: long) }
        await expectCode(.enoent, "lookup of a missing name") { _ = try await client.lookup(parent: directory.inode, name: "missing") }
        await expectCode(.enoent, "getattr of an unknown id") { _ = try await client.getattr(0xFFFF_FF) }
        await expectCode(.enoent, "create under an unknown parent") { _ = try await client.create(parent: 0xFFFF_FF, name: "x") }
        await expectCode(.einval, "mkdir with a bad mode") { _ = try await client.mkdir(parent: directory.inode, name: "m", mode: 0o170000) }
        await expectCode(.enametoolong, "symlink with a 5000-byte target") {
            _ = try await client.symlink(parent: directory.inode, name: "s", target: String(repeating: "t", count: 5000))
        }
        // Ids are global: segment 77 belongs to some shard of the map, which has no such inode.
        await expectCode(.enoent, "an inode nobody allocated") { _ = try await client.getattr((UInt64(77) << 48) | 5) }
        await expectCode(.einval, "a segment outside the keying") { _ = try await client.getattr((UInt64(5000) << 48) | 5) }
        await expectCode(.enotdir, "readdir of a file") {
            let file = try await client.create(parent: directory.inode, name: "plain")
            _ = try await client.readdirPage(file.inode, cursor: nil, limit: 10, withAttributes: false)
        }
        // None of the failed requests changed anything.
        let names = try await client.readdir(directory.inode).collect().map(\.name)
        #expect(names == ["plain"])

        // Raw frames: the server answers with a PROTOCOL_ERROR / TOO_LARGE frame and closes the connection.
        let endpoint = cluster.members[0].apiAddress
        let port = Int(endpoint.split(separator: ":").last ?? "") ?? 0
        let garbageBody = RawConnection.frame(type: 0x01, body: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        try expectProtocolError(port: port, send: garbageBody, expected: [.protocolError], "malformed protobuf body")
        try expectProtocolError(port: port, send: RawConnection.frame(type: 0x55, body: [1, 2, 3]), expected: [.protocolError],
                                "unknown frame type")
        var oversized: [UInt8] = [0x7F, 0xFF, 0xFF, 0xFF, 0x01]
        oversized += [UInt8](repeating: 0, count: 64)
        try expectProtocolError(port: port, send: oversized, expected: [.tooLarge, .protocolError], "oversized frame")
        try expectProtocolError(port: port, send: [0, 0, 0, 0], expected: [.protocolError], "empty frame")

        // The cluster keeps serving.
        let after = try await client.create(parent: directory.inode, name: "after-bad-input")
        #expect(after.nlink == 1)
        let status = try await client.status()
        #expect(status.shards.count == 2)

        // A client that only knows a follower is redirected by the NOT_LEADER hint (the leader's address).
        let leader = try await FailoverTests.waitForLeader(client)
        let follower = try #require([UInt64(1), 2, 3].first { $0 != leader })
        let redirected = AlmanacClient(endpoints: [cluster.member(follower).apiAddress])
        defer { Task { await redirected.shutdown() } }
        let viaFollower = try await redirected.create(parent: directory.inode, name: "via-follower")
        #expect(try await client.lookup(parent: directory.inode, name: "via-follower").inode == viaFollower.inode)
    }

    private func expectProtocolError(port: Int, send bytes: [UInt8], expected: Set<Almanac_Api_V1_ErrorCode>,
                                     _ what: String) throws {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        try connection.write(bytes)
        let (frames, closed) = connection.readUntilClosed(timeoutSeconds: 5)
        #expect(closed, "\(what): the server did not close the connection")
        guard let frame = frames.first else {
            Issue.record("\(what): no error frame before the close")
            return
        }
        #expect(frame.type == 0x7F, "\(what): frame type \(frame.type), expected the protocol-error frame 0x7f")
        let error = try Almanac_Api_V1_Error(serializedBytes: frame.body)
        #expect(expected.contains(error.code), "\(what): error \(error.code) \(error.message)")
        #expect(!error.message.isEmpty)
    }
}

/// A blocking TCP connection for sending hand-made bytes.
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClusterError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw ClusterError("connect to port \(port) failed")
        }
    }

    static func frame(type: UInt8, body: [UInt8]) -> [UInt8] {
        let length = UInt32(body.count + 1)
        return withUnsafeBytes(of: length.bigEndian) { Array($0) } + [type] + body
    }

    func write(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard written == bytes.count else { throw ClusterError("send failed") }
    }

    /// Reads frames until the peer closes (true) or the timeout passes (false).
    func readUntilClosed(timeoutSeconds: Int) -> (frames: [(type: UInt8, body: [UInt8])], closed: Bool) {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var closed = false
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { closed = true; break }
            if count < 0 { closed = errno == ECONNRESET; break }
            data += buffer[0..<count]
        }
        var frames: [(UInt8, [UInt8])] = []
        var position = 0
        while data.count - position >= 5 {
            let length = Int(data[position]) << 24 | Int(data[position + 1]) << 16 | Int(data[position + 2]) << 8 | Int(data[position + 3])
            guard length >= 1, data.count - position - 4 >= length else { break }
            frames.append((data[position + 4], Array(data[(position + 5)..<(position + 4 + length)])))
            position += 4 + length
        }
        return (frames, closed)
    }

    func close() { Glibc.close(fd) }
}
