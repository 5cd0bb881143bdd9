@testable import AlmanacMetadata
import AlmanacWire
import Foundation
import Testing

@testable import AlmanacServer

/// A request with the given operation, session 0x0003_0000_0000_0007 style ids built by `session(shard:)`.
private func request(
    session: UInt64 = APISessionID.encode(shard: 0, local: 7)!, sequence: UInt64 = 5, _ set: (inout Almanac_Api_V1_Request) -> Void
) -> Almanac_Api_V1_Request {
    var request = Almanac_Api_V1_Request()
    request.requestID = 42
    request.sessionID = session
    request.sequence = sequence
    set(&request)
    // Every translated request went through the real protobuf encoding first.
    let bytes: [UInt8] = (try? request.serializedBytes()) ?? []
    return (try? Almanac_Api_V1_Request(serializedBytes: bytes)) ?? request
}

/// Segment s belongs to shard s mod 8, so the tests can name a shard by the segment of an id.
private let routingMap: ShardMap = {
    let keying = MetadataConfig.defaultKeying
    let replicas = [ReplicaLocation(node: 1, zone: "z1")]
    guard let map = try? ShardMap(keying: keying, epoch: 1, owners: (0..<keying.segmentCount).map { ShardID($0 % 8) },
                                  shards: (0..<8).map { ShardRecord(id: ShardID($0), replicas: replicas) }) else {
        preconditionFailure("test map")
    }
    return map
}()

private let translator = RequestTranslator(map: routingMap)
private let sessionKey = SessionRef(id: 7, sequence: 5)

@Suite struct RequestTranslatorTests {
    @Test func routesEveryWriteOperation() throws {
        let shard3Dir = InodeID(segment: 3, counter: 9)
        let s3 = APISessionID.encode(shard: 3, local: 7)!
        let cases: [(Almanac_Api_V1_Request, RoutedRequest)] = [
            (request { var m = Almanac_Api_V1_MkdirRequest(); m.parent = 1; m.name = "d"; m.mode = 0o750; m.uid = 3; m.gid = 4; $0.mkdir = m },
             .write(shard: 0, operation: .mkdir(parent: .root, name: "d", mode: 0o750, uid: 3, gid: 4), session: sessionKey, durability: .majority)),
            (request(session: s3) { var m = Almanac_Api_V1_MkdirRequest(); m.parent = shard3Dir.rawValue; m.name = "x"; $0.mkdir = m; $0.durability = .leader },
             .write(shard: 3, operation: .mkdir(parent: shard3Dir, name: "x", mode: 0, uid: 0, gid: 0), session: sessionKey, durability: .async)),
            // A replay of an async write is answered at commit.
            (request(session: s3) { var m = Almanac_Api_V1_MkdirRequest(); m.parent = shard3Dir.rawValue; m.name = "x"; $0.mkdir = m; $0.durability = .leader; $0.replay = true },
             .write(shard: 3, operation: .mkdir(parent: shard3Dir, name: "x", mode: 0, uid: 0, gid: 0), session: sessionKey, durability: .majority)),
            (request { var c = Almanac_Api_V1_CreateRequest(); c.parent = 1; c.name = "f"; c.mode = 0o600; $0.create = c },
             .write(shard: 0, operation: .create(parent: .root, name: "f", mode: 0o600, uid: 0, gid: 0), session: sessionKey, durability: .majority)),
            (request { var c = Almanac_Api_V1_CreateRequest(); c.parent = 1; c.name = "f"; c.openExisting = true; $0.create = c },
             .createOrOpenExisting(shard: 0, operation: .create(parent: .root, name: "f", mode: 0, uid: 0, gid: 0), session: sessionKey, durability: .majority)),
            (request { var r = Almanac_Api_V1_RenameRequest(); r.parent = 1; r.name = "a"; r.newParent = 5; r.newName = "b"; $0.rename = r },
             .write(shard: 0, operation: .rename(fromParent: .root, fromName: "a", toParent: InodeID(5), toName: "b"), session: sessionKey, durability: .majority)),
            (request { var u = Almanac_Api_V1_UnlinkRequest(); u.parent = 1; u.name = "a"; $0.unlink = u },
             .write(shard: 0, operation: .unlink(parent: .root, name: "a"), session: sessionKey, durability: .majority)),
            (request { var r = Almanac_Api_V1_RmdirRequest(); r.parent = 1; r.name = "a"; $0.rmdir = r },
             .write(shard: 0, operation: .rmdir(parent: .root, name: "a"), session: sessionKey, durability: .majority)),
            (request { var o = Almanac_Api_V1_OpenRequest(); o.parent = 1; o.name = "f"; o.flags = 1 | 2 | 4 | 16 | 32; o.mode = 0o640; o.uid = 1; o.gid = 2; $0.open = o },
             .write(shard: 0, operation: .open(parent: .root, name: "f", flags: OpenFlags(access: .readWrite, create: true, exclusive: true, truncate: true), mode: 0o640, uid: 1, gid: 2), session: sessionKey, durability: .majority)),
            (request { var o = Almanac_Api_V1_OpenRequest(); o.parent = 1; o.name = "f"; o.flags = 8; $0.open = o },
             .write(shard: 0, operation: .open(parent: .root, name: "f", flags: OpenFlags(access: .writeOnly), mode: 0, uid: 0, gid: 0), session: sessionKey, durability: .majority)),
            (request { var o = Almanac_Api_V1_OpenRequest(); o.parent = 1; o.name = "f"; $0.open = o },
             .write(shard: 0, operation: .open(parent: .root, name: "f", flags: OpenFlags(), mode: 0, uid: 0, gid: 0), session: sessionKey, durability: .majority)),
            (request(session: s3) { var c = Almanac_Api_V1_CloseRequest(); c.handle = 11; $0.close = c },
             .write(shard: 3, operation: .close(handle: 11), session: sessionKey, durability: .majority)),
            (request { var l = Almanac_Api_V1_LinkRequest(); l.inode = 9; l.newParent = 1; l.newName = "h"; $0.link = l },
             .write(shard: 0, operation: .link(target: InodeID(9), parent: .root, name: "h"), session: sessionKey, durability: .majority)),
            (request { var s = Almanac_Api_V1_SymlinkRequest(); s.parent = 1; s.name = "l"; s.target = "/t"; s.uid = 5; s.gid = 6; $0.symlink = s },
             .write(shard: 0, operation: .symlink(parent: .root, name: "l", target: "/t", uid: 5, gid: 6), session: sessionKey, durability: .majority)),
            (request(session: s3) { $0.keepAlive = Almanac_Api_V1_KeepAliveRequest() },
             .write(shard: 3, operation: .keepAlive, session: sessionKey, durability: .majority)),
            (request(session: s3) { $0.closeSession = Almanac_Api_V1_CloseSessionRequest() },
             .write(shard: 3, operation: .closeSession, session: sessionKey, durability: .majority)),
        ]
        for (input, expected) in cases {
            #expect(try translator.route(input).get() == expected)
        }
    }

    @Test func routesSetattrMaskBits() throws {
        let routed = try translator.route(request {
            var s = Almanac_Api_V1_SetattrRequest()
            s.inode = 2; s.mask = 1 | 2 | 4 | 8 | 16 | 128; s.mode = 0o700; s.uid = 10; s.gid = 20; s.size = 99; s.atimeNs = 123; s.mtimeNs = 456
            $0.setattr = s
        }).get()
        let expected = SetAttributes(mode: 0o700, uid: 10, gid: 20, size: 99, atime: .set(Timestamp(nanoseconds: 123)), mtime: .now)
        #expect(routed == .write(shard: 0, operation: .setattr(id: InodeID(2), changes: expected), session: sessionKey, durability: .majority))
        let other = try translator.route(request {
            var s = Almanac_Api_V1_SetattrRequest(); s.inode = 2; s.mask = 32 | 64; s.mtimeNs = -5; $0.setattr = s
        }).get()
        #expect(other == .write(shard: 0, operation: .setattr(id: InodeID(2), changes: SetAttributes(atime: .now, mtime: .set(Timestamp(nanoseconds: -5)))), session: sessionKey, durability: .majority))
    }

    @Test func routesEveryQuery() throws {
        let far = InodeID(segment: 7, counter: 1)
        let cases: [(Almanac_Api_V1_Request, RoutedRequest)] = [
            (request(session: 0, sequence: 0) { var l = Almanac_Api_V1_LookupRequest(); l.parent = 1; l.name = "a"; $0.lookup = l },
             .read(shard: 0, consistency: .linearizable, query: .lookup(parent: .root, name: "a"))),
            (request(session: 0, sequence: 0) { var g = Almanac_Api_V1_GetattrRequest(); g.inode = far.rawValue; $0.getattr = g; $0.consistency = .stale },
             .read(shard: 7, consistency: .stale, query: .getattr(far))),
            (request(session: 0, sequence: 0) { var r = Almanac_Api_V1_ReaddirRequest(); r.inode = 1; $0.readdir = r },
             .read(shard: 0, consistency: .linearizable, query: .readdir(.root, after: nil, limit: 512, withAttributes: false))),
            (request(session: 0, sequence: 0) { var r = Almanac_Api_V1_ReaddirRequest(); r.inode = 1; r.cursor = Data("m".utf8); r.limit = 1_000_000; r.withAttributes = true; $0.readdir = r },
             .read(shard: 0, consistency: .linearizable, query: .readdir(.root, after: ReaddirCursor(after: "m"), limit: 4096, withAttributes: true))),
            (request(session: 0, sequence: 0) { var r = Almanac_Api_V1_ReadlinkRequest(); r.inode = 3; $0.readlink = r },
             .read(shard: 0, consistency: .linearizable, query: .readlink(InodeID(3)))),
            (request(session: 0, sequence: 0) { $0.clusterStatus = Almanac_Api_V1_ClusterStatusRequest() }, .clusterStatus(stateDigests: false)),
            (request(session: 0, sequence: 0) { var o = Almanac_Api_V1_OpenSessionRequest(); o.shardID = 9; $0.openSession = o }, .openSession(shard: 9)),
        ]
        for (input, expected) in cases {
            #expect(try translator.route(input).get() == expected)
        }
    }

    @Test func refusesBadRequestsWithTypedErrors() {
        let s0 = APISessionID.encode(shard: 0, local: 7)!
        let cases: [(Almanac_Api_V1_Request, Almanac_Api_V1_ErrorCode)] = [
            (request { _ in }, .unsupported),  // no operation
            (request(session: 0) { var m = Almanac_Api_V1_MkdirRequest(); m.parent = 1; m.name = "a"; $0.mkdir = m }, .staleSession),
            (request(session: APISessionID.encode(shard: 60, local: 7)!) { var m = Almanac_Api_V1_MkdirRequest(); m.parent = 1; m.name = "a"; $0.mkdir = m }, .wrongShard),
            (request(session: s0, sequence: 0) { var m = Almanac_Api_V1_MkdirRequest(); m.parent = 1; m.name = "a"; $0.mkdir = m }, .einval),
            (request { var s = Almanac_Api_V1_SetattrRequest(); s.inode = 1; s.mask = 256; $0.setattr = s }, .einval),
            (request { var s = Almanac_Api_V1_SetattrRequest(); s.inode = 1; s.mask = 16 | 64; $0.setattr = s }, .einval),
            (request { var s = Almanac_Api_V1_SetattrRequest(); s.inode = 1; s.mask = 32 | 128; $0.setattr = s }, .einval),
            (request { var r = Almanac_Api_V1_RenameRequest(); r.parent = 1; r.name = "a"; r.newParent = 1; r.newName = "b"; r.flags = 1; $0.rename = r }, .unsupported),
            (request { var r = Almanac_Api_V1_RenameRequest(); r.parent = 1; r.name = "a"; r.newParent = 1; r.newName = "b"; r.flags = 6; $0.rename = r }, .einval),
            (request { var o = Almanac_Api_V1_OpenRequest(); o.inode = 5; $0.open = o }, .unsupported),
            (request { var o = Almanac_Api_V1_OpenRequest(); o.parent = 1; o.name = "f"; o.flags = 64; $0.open = o }, .einval),
            (request(session: 0, sequence: 0) { var r = Almanac_Api_V1_ReaddirRequest(); r.inode = 1; r.cursor = Data([0xFF, 0xFE]); $0.readdir = r }, .einval),
            (request { var m = Almanac_Api_V1_MkdirRequest(); m.parent = 1; m.name = "a"; $0.mkdir = m; $0.durability = .UNRECOGNIZED(9) }, .einval),
            (request(session: 0, sequence: 0) { var g = Almanac_Api_V1_GetattrRequest(); g.inode = 1; $0.getattr = g; $0.consistency = .UNRECOGNIZED(4) }, .einval),
            (request(session: 0, sequence: 0) { var o = Almanac_Api_V1_OpenSessionRequest(); o.shardID = 70_000; $0.openSession = o }, .einval),
        ]
        // A write goes to its session's shard even where this node's map puts the routing inode
        // elsewhere: that shard's state machine answers a retry from its session cache or refuses.
        let elsewhere = request(session: APISessionID.encode(shard: 2, local: 7)!) { var m = Almanac_Api_V1_MkdirRequest(); m.parent = 1; m.name = "a"; $0.mkdir = m }
        if case .success(.write(let shard, _, _, _)) = translator.route(elsewhere) { #expect(shard == 2) } else { Issue.record("not routed to the session's shard") }
        for (input, code) in cases {
            switch translator.route(input) {
            case .success(let routed): Issue.record("expected \(code), routed to \(routed)")
            case .failure(let error):
                #expect(error.code == code, "\(error)")
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test func mapsEveryMetadataErrorCode() {
        let expected: [AlmanacMetadata.ErrorCode: Almanac_Api_V1_ErrorCode] = [
            .eperm: .eperm, .enoent: .enoent, .ebadf: .ebadf, .eexist: .eexist, .exdev: .exdev, .enotdir: .enotdir,
            .eisdir: .eisdir, .einval: .einval, .efbig: .efbig, .enospc: .enospc, .emlink: .emlink,
            .enametoolong: .enametoolong, .enotempty: .enotempty, .eloop: .eloop, .emsgsize: .tooLarge,
            .wrongShard: .wrongShard, .unknownSession: .staleSession, .sessionExpired: .staleSession,
            .staleSequence: .staleSession, .alreadyApplied: .internal, .badEntry: .internal, .internalInconsistency: .internal,
            .crossShard: .unsupported, .conflict: .conflict, .transactionAborted: .unavailable,
        ]
        #expect(expected.count == AlmanacMetadata.ErrorCode.allCases.count)
        for code in AlmanacMetadata.ErrorCode.allCases {
            let outcome = WriteOutcome(result: .failure(MetadataError(code, "detail for \(code)")), index: 8)
            let response = translator.response(requestID: 3, shard: 2, write: outcome)
            #expect(response.requestID == 3)
            #expect(response.shardID == 2)
            #expect(response.error.code == expected[code], "\(code)")
            #expect(response.error.message.contains("detail for \(code)"))
            #expect(response.result == nil)
            // Codes the protocol merges keep the original name.
            if expected[code] == .staleSession || expected[code] == .internal || code == .emsgsize {
                #expect(response.error.message.hasPrefix("\(code):"))
            }
        }
    }

    @Test func mapsEveryServiceErrorCode() {
        let hint = LeaderHint(nodeID: 4, address: "127.0.0.1:9", zone: "z2")
        let cases: [(ServiceError.Code, Almanac_Api_V1_ErrorCode)] = [
            (.notLeader, .notLeader), (.unavailable, .unavailable), (.timeout, .timeout), (.tooLarge, .tooLarge),
            (.wrongShard, .wrongShard), (.unsupported, .unsupported), (.internal, .internal),
        ]
        for (code, apiCode) in cases {
            let error = RequestTranslator.apiError(ServiceError(code, "why", leaderHint: hint))
            #expect(error.code == apiCode)
            #expect(error.message == "why")
            let proto = error.proto
            if code == .notLeader {
                #expect(proto.leaderHint.nodeID == 4 && proto.leaderHint.address == "127.0.0.1:9" && proto.leaderHint.zone == "z2")
            } else {
                #expect(!proto.hasLeaderHint)
            }
        }
    }

    @Test func encodesEveryResultKind() throws {
        let attributes = InodeAttributes(
            id: InodeID(77), type: .regular, mode: 0o640, uid: 1, gid: 2, size: 3, nlink: 4,
            atime: Timestamp(nanoseconds: 5), mtime: Timestamp(nanoseconds: 6), ctime: Timestamp(nanoseconds: 7), version: 8)
        let entry = translator.response(requestID: 1, shard: 0, write: WriteOutcome(result: .success(.attributes(attributes)), index: 10))
        let a = try #require(entry.entry.attributes)
        #expect(a.inode == 77 && a.type == .regular && a.mode == 0o640 && a.uid == 1 && a.gid == 2 && a.size == 3 && a.nlink == 4)
        #expect(a.atimeNs == 5 && a.mtimeNs == 6 && a.ctimeNs == 7 && a.version == 8)
        #expect(entry.appliedIndex == 10 && !entry.hasError)

        let opened = translator.response(requestID: 1, shard: 0, write: WriteOutcome(result: .success(.opened(handle: 12, attributes: attributes, created: true)), index: 11))
        #expect(opened.open.handle == 12 && opened.open.created && opened.open.attributes.inode == 77)

        let done = translator.response(requestID: 1, shard: 0, write: WriteOutcome(result: .success(.done), index: 12))
        guard case .empty? = done.result else { Issue.record("expected empty, got \(String(describing: done.result))"); return }

        let page = ReaddirPage(entries: [DirectoryEntry(name: "a", id: InodeID(77), type: .regular)], nextCursor: ReaddirCursor(after: "a"), directoryVersion: 3)
        let listed = translator.response(requestID: 1, shard: 0, read: ReadOutcome(result: .success(.page(page, attributes: [attributes])), appliedIndex: 13))
        #expect(listed.readdir.entries.map(\.name) == ["a"])
        #expect(listed.readdir.entries[0].attributes.inode == 77)
        #expect(listed.readdir.nextCursor == Data("a".utf8) && !listed.readdir.end)
        #expect(listed.appliedIndex == 13)
        // The cursor a response carries routes back to the same position.
        var next = Almanac_Api_V1_ReaddirRequest()
        next.inode = 1
        next.cursor = listed.readdir.nextCursor
        var follow = Almanac_Api_V1_Request()
        follow.readdir = next
        #expect(try translator.route(follow).get() == .read(shard: 0, consistency: .linearizable, query: .readdir(.root, after: ReaddirCursor(after: "a"), limit: 512, withAttributes: false)))

        let last = translator.response(requestID: 1, shard: 0, read: ReadOutcome(result: .success(.page(ReaddirPage(entries: [], nextCursor: nil, directoryVersion: 1), attributes: nil)), appliedIndex: 1))
        #expect(last.readdir.end && last.readdir.nextCursor.isEmpty)

        let link = translator.response(requestID: 1, shard: 0, read: ReadOutcome(result: .success(.symlinkTarget("/x/y")), appliedIndex: 1))
        #expect(link.readlink.target == "/x/y")

        let session = translator.response(requestID: 9, shard: 5, session: 1234, index: 1234, leaseMilliseconds: 60_000)
        let id = session.openSession.sessionID
        #expect(APISessionID.decode(id) == (shard: 5, local: 1234))
        #expect(session.openSession.leaseMs == 60_000 && session.requestID == 9)
        #expect(APISessionID.encode(shard: 0, local: 0) == nil)
        #expect(APISessionID.encode(shard: 0, local: APISessionID.maxLocal + 1) == nil)

        // Responses survive the protobuf encoding.
        for response in [entry, opened, done, listed, last, link, session] {
            let bytes: [UInt8] = try response.serializedBytes()
            #expect(try Almanac_Api_V1_Response(serializedBytes: bytes) == response)
        }
    }
}
