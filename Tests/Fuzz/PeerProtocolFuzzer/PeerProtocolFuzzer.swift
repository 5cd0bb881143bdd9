// libFuzzer target for the peer protocol: the bytes a node may receive on a peer connection.
//
// The input is a byte stream split into frames by FrameDecoder (in chunks whose sizes come from the
// input, as TCP would deliver them); each frame is read as a PeerFrame, which expands a batch into
// Raft messages (PeerBatchCodec, Message(wire:), Entry(wire:), snapshots). Every failure must be a
// typed error; a trap, a precondition failure or a hang is a bug.
//
// Built by scripts/fuzz.sh with `-sanitize=fuzzer -D ALMANAC_FUZZ` (libFuzzer's driver runs it).
// In an ordinary build it is a replayer: `almanac-fuzz-peer FILE...` runs each file once.
import AlmanacRaft
import AlmanacWire
import Foundation
import NIOCore

func fuzzPeerProtocol(_ bytes: UnsafeRawBufferPointer) {
    guard let first = bytes.first else { return }
    let chunk = Int(first) + 1
    let stream = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
    // The peer limit is 64 MiB; a smaller one keeps the fuzzer from buffering huge declared lengths.
    var decoder = FrameDecoder(maxFrameSize: 1 << 20)
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
                return
            }
            guard let frame else { break }
            guard let peerFrame = try? PeerFrame(frame: frame) else { continue }
            if case .batch(_, let envelopes) = peerFrame {
                for envelope in envelopes {
                    // Re-encode what was decoded: the path a forwarded message takes.
                    _ = Almanac_Raft_V1_PeerEnvelope(envelope)
                }
            }
            _ = try? peerFrame.makeFrame()
        }
    }
}

#if ALMANAC_FUZZ
// libFuzzer's own main (linked in by -sanitize=fuzzer) calls this.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzPeerProtocol(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM links an executable's entry point as `<module>_main` (--defsym main=...); hand it to
// libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("almanac_fuzz_peer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzPeerProtocol(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
#else
@main
enum PeerProtocolReplay {
    static func main() throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--write-seeds", arguments.count == 2 {
            try writeSeeds(to: arguments[1])
            return
        }
        arguments.removeAll { $0.hasPrefix("-") }
        for path in arguments {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            data.withUnsafeBytes { fuzzPeerProtocol($0) }
            print("ok \(path)")
        }
    }

    /// Writes the seed corpus: streams of real peer frames made by the real encoders.
    static func writeSeeds(to directory: String) throws {
        var hello = Almanac_Raft_V1_PeerHello()
        hello.protocolVersion = 1; hello.clusterID = "fuzz"; hello.nodeID = 2; hello.zone = "az2"
        let entries = [Entry(term: 2, index: 5, type: .normal, data: [1, 2, 3]),
                       Entry(term: 2, index: 6, type: .configChange, data: [0, 9, 9])]
        let append = Message(type: .append, from: 1, to: 2, term: 2, logTerm: 1, index: 4, entries: entries, commit: 4)
        let heartbeat = Message(type: .heartbeat, from: 1, to: 2, term: 2, commit: 4)
        let response = Message(type: .heartbeatResponse, from: 2, to: 1, term: 2, reject: true, rejectHint: 3)
        let snapshot = Message(type: .installSnapshot, from: 1, to: 2, term: 2,
                               snapshot: Snapshot(metadata: SnapshotMetadata(index: 9, term: 2, confState: ConfState(voters: [1, 2, 3])), data: [7, 7, 7]))
        let vote = Message(type: .vote, from: 3, to: 2, term: 3, logTerm: 2, index: 6)
        let streams: [(String, [PeerFrame])] = [
            ("hello", [.hello(hello)]),
            ("hello-batch", [.hello(hello), .batch(sequence: 1, envelopes: [PeerEnvelope(groupID: 1, message: append)])]),
            ("heartbeats", [.batch(sequence: 2, envelopes: [PeerEnvelope(groupID: 1, message: heartbeat), PeerEnvelope(groupID: 2, message: heartbeat),
                                                            PeerEnvelope(groupID: 3, message: response)])]),
            ("snapshot", [.batch(sequence: 3, envelopes: [PeerEnvelope(groupID: 4, message: snapshot)])]),
            ("vote", [.batch(sequence: 4, envelopes: [PeerEnvelope(groupID: 1, message: vote)])]),
            ("ack-ping-pong", [.ack(sequence: 4), .ping(nonce: 1, sentAtNanos: 99), .pong(nonce: 1, sentAtNanos: 99)]),
        ]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, (name, frames)) in streams.enumerated() {
            var out = ByteBuffer()
            out.writeInteger(UInt8(index % 2 == 0 ? 255 : 6))  // chunk size byte: whole, or 7-byte pieces
            for frame in frames { FrameEncoder().encode(data: try frame.makeFrame(), out: &out) }
            try Data(out.readableBytesView).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
        }
    }
}
#endif
