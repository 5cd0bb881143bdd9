import AlmanacRaft

/// A cluster node as its peers see it: id, zone label and peer-transport endpoint.
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    public var id: NodeID
    public var zone: String
    public var host: String
    public var port: Int

    public init(id: NodeID, zone: String, host: String, port: Int) {
        self.id = id
        self.zone = zone
        self.host = host
        self.port = port
    }

    public var description: String { "node \(id)@\(host):\(port) (zone \(zone))" }
}
