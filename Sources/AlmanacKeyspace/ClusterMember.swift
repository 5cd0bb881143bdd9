/// One node of a cluster: its id, zone and addresses. The founding members are listed in every
/// node's configuration; members added at runtime (`almanac ctl node add`) are recorded in the
/// shard map (``ShardMap/joinedMembers``), so every node learns of them.
public struct ClusterMember: Sendable, Hashable, Codable {
    public var id: NodeID
    public var zone: ZoneName
    /// "host:port" of the node's peer (Raft) transport.
    public var peerAddress: String
    /// "host:port" of the node's client API.
    public var apiAddress: String

    public init(id: NodeID, zone: ZoneName, peerAddress: String, apiAddress: String) {
        self.id = id
        self.zone = zone
        self.peerAddress = peerAddress
        self.apiAddress = apiAddress
    }

    /// Splits "host:port"; nil when malformed.
    public static func split(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":"), colon != address.startIndex,
              let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        return (String(address[..<colon]), port)
    }
}
