// libFuzzer target for the client protocol: the bytes a client or a server may receive.
//
// The input is a byte stream as it arrives on a client connection: it is split into frames by
// FrameDecoder (in chunks whose sizes come from the input, as TCP would deliver them), each frame is
// read as a client frame (APIClientFrame, what a server receives) and as a server frame
// (APIServerFrame, what a client receives); requests go through the server's RequestTranslator and a
// shard map in a response through ShardMap(wire:). Every failure must be a typed error; a trap, a
// precondition failure or a hang is a bug.
//
// Built by scripts/fuzz.sh with `-sanitize=fuzzer -D ALMANAC_FUZZ` (libFuzzer's driver runs it).
// In an ordinary build it is a replayer: `almanac-fuzz-client FILE...` runs each file once.
import AlmanacKeyspace
import AlmanacServer
import AlmanacWire
import Foundation
import NIOCore

/// Built once: its default shard map covers every segment, which is too slow to build per input.
let fuzzTranslator = RequestTranslator()

func fuzzClientProtocol(_ bytes: UnsafeRawBufferPointer) {
    guard let first = bytes.first else { return }
    // First byte: the chunk size the stream is delivered in (1...256), the rest: the stream.
    let chunk = Int(first) + 1
    let stream = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
    var decoder = FrameDecoder(maxFrameSize: WireLimits.defaultClientMaxFrameSize)
    var buffer = ByteBufferAllocator().buffer(capacity: stream.count)
    var offset = 0
    while offset < stream.count {
        let end = min(stream.count, offset + chunk)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: stream[offset..<end]))
        offset = end
        while true {
            let frame: Frame?
            do {
                frame = try decoder.decode(buffer: &buffer)
            } catch {
                if let error = error as? WireProtocolError { _ = Almanac_Api_V1_Error(error) }  // the server's answer
                return  // the connection closes on a framing error
            }
            guard let frame else { break }
            if case .request(let request) = try? APIClientFrame(frame: frame) {
                switch fuzzTranslator.route(request) {
                case .success(let routed): _ = routed
                case .failure(let error): _ = error.message
                }
            }
            if case .response(let response) = try? APIServerFrame(frame: frame), case .shardMap(let map)? = response.result {
                _ = try? ShardMap(wire: map)
            }
        }
    }
    _ = try? decoder.decodeLast(buffer: &buffer, seenEOF: true)
}

#if ALMANAC_FUZZ
// libFuzzer's own main (linked in by -sanitize=fuzzer) calls this.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzClientProtocol(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM links an executable's entry point as `<module>_main` (--defsym main=...); hand it to
// libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("almanac_fuzz_client_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzClientProtocol(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
#else
@main
enum ClientProtocolReplay {
    static func main() throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--write-seeds", arguments.count == 2 {
            try writeSeeds(to: arguments[1])
            return
        }
        arguments.removeAll { $0.hasPrefix("-") }
        for path in arguments {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            data.withUnsafeBytes { fuzzClientProtocol($0) }
            print("ok \(path)")
        }
    }

    /// Writes the seed corpus: one stream per request kind, made by the real encoders, plus a
    /// response stream and a few framing edge cases.
    static func writeSeeds(to directory: String) throws {
        func request(_ id: UInt64, _ build: (inout Almanac_Api_V1_Request) -> Void) -> Almanac_Api_V1_Request {
            var r = Almanac_Api_V1_Request()
            r.requestID = id
            r.sessionID = 7
            r.sequence = id
            build(&r)
            return r
        }
        var m = Almanac_Api_V1_MkdirRequest(); m.parent = 1; m.name = "dir"; m.mode = 0o755
        var c = Almanac_Api_V1_CreateRequest(); c.parent = 1; c.name = "file"; c.mode = 0o644
        var l = Almanac_Api_V1_LookupRequest(); l.parent = 1; l.name = "file"
        var g = Almanac_Api_V1_GetattrRequest(); g.inode = 2
        var sa = Almanac_Api_V1_SetattrRequest(); sa.inode = 2; sa.mask = 0xff; sa.size = 4096
        var rn = Almanac_Api_V1_RenameRequest(); rn.parent = 1; rn.name = "a"; rn.newParent = 1 << 48 | 5; rn.newName = "b"
        var u = Almanac_Api_V1_UnlinkRequest(); u.parent = 1; u.name = "file"
        var rd = Almanac_Api_V1_ReaddirRequest(); rd.inode = 1; rd.cursor = Data([1, 2, 3]); rd.limit = 100_000
        var o = Almanac_Api_V1_OpenRequest(); o.parent = 1; o.name = "x"; o.flags = 0xff
        var lk = Almanac_Api_V1_LinkRequest(); lk.inode = 2; lk.newParent = 1; lk.newName = "hard"
        var sy = Almanac_Api_V1_SymlinkRequest(); sy.parent = 1; sy.name = "s"; sy.target = "/t"
        var sc = Almanac_Api_V1_ShardCommandRequest(); sc.shardID = 1; sc.operation = Data([0, 1, 2, 3, 4])
        var os = Almanac_Api_V1_OpenSessionRequest(); os.clientName = "fuzz"; os.shardID = 3
        let requests: [(String, Almanac_Api_V1_Request)] = [
            ("mkdir", request(1) { $0.mkdir = m }), ("create", request(2) { $0.create = c }),
            ("lookup", request(3) { $0.lookup = l }), ("getattr", request(4) { $0.getattr = g }),
            ("setattr", request(5) { $0.setattr = sa }), ("rename", request(6) { $0.rename = rn }),
            ("unlink", request(7) { $0.unlink = u }), ("readdir", request(8) { $0.readdir = rd }),
            ("open", request(9) { $0.open = o }), ("link", request(10) { $0.link = lk }),
            ("symlink", request(11) { $0.symlink = sy }), ("shard-command", request(12) { $0.shardCommand = sc }),
            ("open-session", request(13) { $0.openSession = os }),
            ("cluster-status", request(14) { $0.clusterStatus = Almanac_Api_V1_ClusterStatusRequest() }),
            ("get-shard-map", request(15) { $0.getShardMap = Almanac_Api_V1_GetShardMapRequest() }),
            ("keep-alive", request(16) { $0.keepAlive = Almanac_Api_V1_KeepAliveRequest() }),
        ]
        var streams: [(String, [Frame])] = []
        for (name, r) in requests { streams.append((name, [try APIClientFrame.request(r).makeFrame()])) }
        streams.append(("pipelined", try requests.prefix(4).map { try APIClientFrame.request($0.1).makeFrame() }))
        let map = try ShardMap(keying: SegmentKeying(segmentCount: 8), epoch: 3, owners: [1, 1, 1, 1, 2, 2, 2, 2],
                               shards: [ShardRecord(id: 1, replicas: [ReplicaLocation(node: 1, zone: "a")], leaderHint: 1, epoch: 1),
                                        ShardRecord(id: 2, replicas: [ReplicaLocation(node: 2, zone: "b")], leaderHint: 2, epoch: 1)])
        var response = Almanac_Api_V1_Response()
        response.requestID = 15
        response.shardMap = map.wire(backend: "static", clientAddresses: [1: "10.0.0.1:7000"])
        streams.append(("shard-map-response", [try APIServerFrame.response(response).makeFrame()]))
        var error = Almanac_Api_V1_Error(); error.code = .notLeader; error.message = "not the leader"
        streams.append(("protocol-error", [try APIClientFrame.protocolError(error).makeFrame()]))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, (name, frames)) in streams.enumerated() {
            var out = ByteBuffer()
            out.writeInteger(UInt8(index % 2 == 0 ? 255 : 6))  // chunk size byte: whole, or 7-byte pieces
            for frame in frames { FrameEncoder().encode(data: frame, out: &out) }
            try Data(out.readableBytesView).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
        }
        // Framing edge cases: a zero length, an oversized length, an unknown type, a truncated frame.
        let edges: [(String, [UInt8])] = [
            ("zero-length", [255, 0, 0, 0, 0]), ("oversized", [255, 0xff, 0xff, 0xff, 0xff, 1]),
            ("unknown-type", [255, 0, 0, 0, 1, 0x7f]), ("truncated", [255, 0, 0, 0, 10, 1, 8, 1]),
        ]
        for (name, bytes) in edges { try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/\(name)")) }
    }
}
#endif
