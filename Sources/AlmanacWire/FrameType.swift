/// The one-byte type tag that follows a frame's length prefix (see docs/wire-format.md).
public enum FrameType: UInt8, Sendable, Hashable, CaseIterable {
    /// Client to server: an `almanac.api.v1.Request`.
    case apiRequest = 0x01
    /// Server to client: an `almanac.api.v1.Response`.
    case apiResponse = 0x02
    /// Peer handshake: an `almanac.raft.v1.PeerHello`.
    case peerHello = 0x10
    /// Peer traffic: an `almanac.raft.v1.PeerBatch`.
    case peerBatch = 0x11
    /// Peer flow control: an `almanac.raft.v1.PeerAck`.
    case peerAck = 0x12
    /// Peer liveness probe: an `almanac.raft.v1.PeerPing`.
    case peerPing = 0x13
    /// Answer to a ping: an `almanac.raft.v1.PeerPing` echoing the ping.
    case peerPong = 0x14
    /// Sent just before the sender closes the connection because of a protocol violation:
    /// an `almanac.api.v1.Error`.
    case protocolError = 0x7F
}
