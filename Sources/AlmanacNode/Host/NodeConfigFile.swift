import AlmanacRaft
import Foundation

/// The configuration of one `almanac serve` process, as a JSON file or built from flags.
///
/// ```json
/// { "id": 1, "zone": "zone-a", "dataDirectory": "data/node1", "shards": 4, "clusterID": "almanac-dev",
///   "members": [ { "id": 1, "zone": "zone-a", "peerAddress": "127.0.0.1:7111", "apiAddress": "127.0.0.1:7101" }, ... ] }
/// ```
/// `members` lists the cluster's founding nodes, this one included unless it joined the cluster at
/// runtime: then its own entry is in `joinedMembers` (added first with `almanac ctl node add`; the
/// shard map tells it of the other changes). This node listens on its own entry's addresses.
public struct NodeConfigFile: Codable, Sendable, Hashable {
    public var id: NodeID
    public var zone: String
    public var dataDirectory: String
    public var shards: Int
    public var clusterID: String
    public var members: [ClusterMember]
    /// Members added at runtime that this node knows of at start: its own entry when it joined a
    /// running cluster (`serve --join`). nil: none.
    public var joinedMembers: [ClusterMember]? = nil
    /// Entries between snapshots (log compaction); nil: the default.
    public var snapshotEveryEntries: UInt64?
    /// Raft tick length in milliseconds; nil: the default (50 ms).
    public var tickMilliseconds: Int?
    /// Size of the chunks snapshots are sent in; nil: the default (1 MiB).
    public var snapshotChunkBytes: Int?
    /// Accept fewer than 3 distinct zones (`ReplicaPlacement.minimumZones`): for single-machine tests
    /// only, such a cluster does not survive the loss of a zone. nil/false: refuse them.
    public var allowFewerZones: Bool?
    /// Predictive journaling (docs/prediction.md): `prediction_model_type` (markov, rnn, none),
    /// `confidence_threshold` in (0, 1], `prefetch_queue_size` (0: off) and `zone_count` (the
    /// cluster's zones, at least 3); nil: the defaults. Validated by `serve`.
    public var predictionModelType: String? = nil
    public var confidenceThreshold: Double? = nil
    public var prefetchQueueSize: Int? = nil
    public var zoneCount: Int? = nil
    /// The request backlog above which prefetching yields to real traffic (negative: never); nil:
    /// the default (``PrefetchSettings``' `yieldAboveRequestBacklog`).
    public var prefetchYieldBacklog: Int? = nil

    public init(id: NodeID, zone: String, dataDirectory: String, shards: Int, clusterID: String,
                members: [ClusterMember], snapshotEveryEntries: UInt64? = nil, tickMilliseconds: Int? = nil,
                snapshotChunkBytes: Int? = nil, allowFewerZones: Bool? = nil) {
        self.id = id
        self.zone = zone
        self.dataDirectory = dataDirectory
        self.shards = shards
        self.clusterID = clusterID
        self.members = members
        self.snapshotEveryEntries = snapshotEveryEntries
        self.tickMilliseconds = tickMilliseconds
        self.snapshotChunkBytes = snapshotChunkBytes
        self.allowFewerZones = allowFewerZones
    }

    /// Reads and validates a JSON file.
    public static func load(path: String) throws(NodeConfigError) -> NodeConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NodeConfigError("cannot read config file \(path)")
        }
        let config: NodeConfigFile
        do {
            config = try JSONDecoder().decode(NodeConfigFile.self, from: data)
        } catch {
            throw NodeConfigError("config file \(path) is not valid: \(error)")
        }
        try config.validate()
        return config
    }

    /// Pretty JSON for writing a file.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Checks ids, zones, addresses and the shard count.
    public func validate() throws(NodeConfigError) {
        guard id != 0 else { throw NodeConfigError("node id must be positive") }
        guard !zone.isEmpty else { throw NodeConfigError("zone must not be empty") }
        guard !dataDirectory.isEmpty else { throw NodeConfigError("data directory must not be empty") }
        guard (1...4096).contains(shards) else { throw NodeConfigError("shards must be in 1...4096 (got \(shards))") }
        guard !clusterID.isEmpty else { throw NodeConfigError("cluster id must not be empty") }
        do {
            try ReplicaPlacement.validate(members, minimumZones: allowFewerZones == true ? 1 : ReplicaPlacement.minimumZones)
        } catch {
            let optIn = Set(members.map(\.zone)).count < ReplicaPlacement.minimumZones
                ? " (for a single-machine test only: \"allowFewerZones\": true, or serve --allow-fewer-zones)" : ""
            throw NodeConfigError("bad member list: \(error)\(optIn)")
        }
        let joined = joinedMembers ?? []
        for member in joined {
            guard member.id != 0 else { throw NodeConfigError("joined member ids must be positive") }
            if members.contains(where: { $0.id == member.id }) {
                throw NodeConfigError("node \(member.id) is both a founding and a joined member")
            }
        }
        guard Set(joined.map(\.id)).count == joined.count else { throw NodeConfigError("a joined member is listed twice") }
        guard let me = (members + joined).first(where: { $0.id == id }) else {
            throw NodeConfigError("node \(id) is not in the member list")
        }
        guard me.zone == zone else { throw NodeConfigError("node \(id) is in zone \(me.zone) in the member list, not \(zone)") }
        for member in members + joined {
            for address in [member.peerAddress, member.apiAddress] where ClusterMember.split(address) == nil {
                throw NodeConfigError("node \(member.id): bad address \"\(address)\" (expected host:port)")
            }
        }
        if let snapshotEveryEntries, snapshotEveryEntries == 0 { throw NodeConfigError("snapshotEveryEntries must be positive") }
        if let snapshotChunkBytes, !(1...(32 << 20)).contains(snapshotChunkBytes) {
            throw NodeConfigError("snapshotChunkBytes must be in 1...33554432")
        }
        if let tickMilliseconds, !(1...10_000).contains(tickMilliseconds) { throw NodeConfigError("tickMilliseconds must be in 1...10000") }
    }

    /// The host settings this file describes.
    public var hostConfiguration: HostConfiguration {
        var configuration = HostConfiguration(nodeID: id, members: members, groupCount: shards)
        configuration.joinedMembers = joinedMembers ?? []
        if let snapshotEveryEntries { configuration.snapshotEveryEntries = snapshotEveryEntries }
        if let snapshotChunkBytes { configuration.snapshotChunkBytes = snapshotChunkBytes }
        if let tickMilliseconds { configuration.tickInterval = .milliseconds(Int64(tickMilliseconds)) }
        if allowFewerZones == true { configuration.minimumZones = 1 }
        return configuration
    }

    /// This node's own entry (founding or joined).
    public var localMember: ClusterMember? { knownMembers.first { $0.id == id } }

    /// The founding members, then the joined ones this file lists.
    public var knownMembers: [ClusterMember] { members + (joinedMembers ?? []) }

    /// Whether this node joined a running cluster rather than founding it.
    public var joinedAtRuntime: Bool { !members.contains { $0.id == id } }

    /// Parses a `--member id,zone,peerHost:port,apiHost:port` flag value.
    public static func parseMember(_ text: String) throws(NodeConfigError) -> ClusterMember {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, let id = NodeID(parts[0]), id > 0 else {
            throw NodeConfigError("bad member \"\(text)\": expected id,zone,peerHost:port,apiHost:port")
        }
        return ClusterMember(id: id, zone: parts[1], peerAddress: parts[2], apiAddress: parts[3])
    }
}

/// A configuration that cannot be used, with the reason.
public struct NodeConfigError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
