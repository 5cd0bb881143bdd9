import AlmanacClient
import AlmanacKeyspace
import AlmanacNode
import AlmanacWire

/// The production ``ReplicaAdminTransport``: `replica_admin` requests over the client protocol.
/// Calls for the leader go through `client` (it follows NOT_LEADER hints); join and leave go
/// through a client of the named node alone, made per call from `nodeConfiguration`.
public struct ClientReplicaAdminTransport: ReplicaAdminTransport {
    public let client: AlmanacClient
    /// Every node's client endpoint.
    public let addresses: [NodeID: String]
    /// The settings of per-node clients (token, TLS); their endpoints are replaced.
    public let nodeConfiguration: AlmanacClientConfiguration

    public init(client: AlmanacClient, addresses: [NodeID: String], nodeConfiguration: AlmanacClientConfiguration) {
        self.client = client
        self.addresses = addresses
        self.nodeConfiguration = nodeConfiguration
    }

    public func replicaAdmin(shard: ShardID, call: ReplicaAdminCall, on node: NodeID?) async -> Result<ReplicaConfiguration?, ReplicaAdminFailure> {
        let wire: Almanac_Api_V1_ReplicaAdminRequest.OneOf_Call
        switch call {
        case .join: wire = .join(Almanac_Api_V1_ReplicaJoin())
        case .found(let voters):
            var found = Almanac_Api_V1_ReplicaFound()
            found.voterNodeIds = voters
            wire = .found(found)
        case .leave: wire = .leave(Almanac_Api_V1_ReplicaLeave())
        case .addLearner(let node):
            var add = Almanac_Api_V1_AddLearner()
            add.nodeID = node
            wire = .addLearner(add)
        case .promoteLearner(let node, let replacing):
            var promote = Almanac_Api_V1_PromoteLearner()
            promote.nodeID = node
            promote.replacingNodeID = replacing
            wire = .promoteLearner(promote)
        case .removeLearner(let node):
            var remove = Almanac_Api_V1_RemoveLearner()
            remove.nodeID = node
            wire = .removeLearner(remove)
        case .transferLeadership(let target):
            var transfer = Almanac_Api_V1_LeadershipTransfer()
            transfer.toNodeID = target
            wire = .transferLeadership(transfer)
        case .configuration: wire = .configuration(Almanac_Api_V1_ReplicaConfigurationQuery())
        }
        do {
            let answer: Almanac_Api_V1_ReplicaAdminResponse
            if let node {
                guard let address = addresses[node] else { return .failure(.refused("node \(node) has no known client address")) }
                var configuration = nodeConfiguration
                configuration.endpoints = [address]
                let nodeClient = AlmanacClient(configuration: configuration)
                defer { Task { await nodeClient.shutdown() } }
                answer = try await nodeClient.replicaAdmin(shard: UInt16(shard), wire, toLeader: false)
            } else {
                answer = try await client.replicaAdmin(shard: UInt16(shard), wire, toLeader: true)
            }
            return .success(Self.configuration(answer, shard: shard))
        } catch {
            if error.code == .einval || error.code == .wrongShard || error.code == .permissionDenied || error.code == .unauthenticated { return .failure(.refused(error.message)) }
            return .failure(.unknown("\(error)"))
        }
    }

    static func configuration(_ answer: Almanac_Api_V1_ReplicaAdminResponse, shard: ShardID) -> ReplicaConfiguration? {
        guard answer.hosted else { return nil }
        return ReplicaConfiguration(
            group: UInt64(shard), responder: answer.responderNodeID, leader: answer.leaderNodeID, term: answer.term,
            voters: answer.voters, outgoingVoters: answer.outgoingVoters, learners: answer.learners,
            commitIndex: answer.commitIndex, lastIndex: answer.lastIndex, appliedIndex: answer.appliedIndex,
            matchIndex: Dictionary(answer.progress.map { ($0.nodeID, $0.matchIndex) }, uniquingKeysWith: max),
            snapshotBytesSent: Dictionary(answer.progress.map { ($0.nodeID, $0.snapshotBytesSent) }, uniquingKeysWith: max))
    }
}
