import AlmanacNode
import AlmanacRaft
import AlmanacWire

/// Builds the client protocol's cluster status from a node's ``HostStatus`` (pure).
public enum ClusterStatusBuilder {
    public static func build(_ status: HostStatus, members: [ClusterMember]) -> Almanac_Api_V1_ClusterStatus {
        let byID = Dictionary(members.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var result = Almanac_Api_V1_ClusterStatus()
        result.responderNodeID = status.nodeID
        let ahead = status.answersAhead
        if ahead.answered + ahead.answeredAtCommit > 0 {
            var answers = Almanac_Api_V1_AnswersAheadStatus()
            answers.answered = ahead.answered
            answers.durable = ahead.durable
            answers.lost = ahead.lost
            answers.outcomeUnknown = ahead.outcomeUnknown
            answers.answeredAtCommit = ahead.answeredAtCommit
            answers.exposureNsTotal = ahead.exposureNanosecondsTotal
            answers.exposureNsMax = ahead.exposureNanosecondsMax
            result.answersAhead = answers
        }
        if let health = status.health {
            result.nodes = health.nodeStatuses(now: status.healthNow).map { node in
                var node = node
                if node.nodeID == status.nodeID { node.lastHeardMs = 0 }
                if let member = byID[node.nodeID] {
                    node.peerAddress = member.peerAddress
                    node.clientAddress = member.apiAddress
                }
                return node
            }
            result.zones = health.zoneStatuses()
        } else {
            result.nodes = members.sorted { $0.id < $1.id }.map { member in
                var node = Almanac_Api_V1_NodeStatus()
                node.nodeID = member.id
                node.zone = member.zone
                node.peerAddress = member.peerAddress
                node.clientAddress = member.apiAddress
                node.health = member.id == status.nodeID ? .alive : .unknown
                return node
            }
        }
        result.shards = status.groups.filter { $0.group != SystemGroup.groupID }.map { shardStatus($0, status: status, byID: byID) }
        if let system = status.groups.first(where: { $0.group == SystemGroup.groupID }) {
            result.systemGroup = shardStatus(system, status: status, byID: byID)
        }
        return result
    }

    /// One group's status (a shard's, or the system group's).
    static func shardStatus(_ group: GroupStatus, status: HostStatus, byID: [NodeID: ClusterMember]) -> Almanac_Api_V1_ShardStatus {
        var shard = Almanac_Api_V1_ShardStatus()
        shard.shardID = group.group
        shard.leaderNodeID = group.raft.leader
        shard.term = group.raft.term
        shard.commitIndex = group.raft.commit
        shard.appliedIndex = group.applied
        shard.stateDigest = group.stateDigest
        let conf = group.raft.confState
        shard.replicas = (conf.voters + conf.learners).sorted().map { id in
            var replica = Almanac_Api_V1_ReplicaStatus()
            replica.nodeID = id
            replica.zone = byID[id]?.zone ?? ""
            if conf.learners.contains(id) {
                replica.role = .learner
            } else if id == group.raft.leader {
                replica.role = .leader
            } else if id == status.nodeID && (group.raft.role == .candidate || group.raft.role == .preCandidate) {
                replica.role = .candidate
            } else {
                replica.role = .follower
            }
            if id == status.nodeID {
                replica.matchIndex = group.raft.lastIndex
            } else if let progress = group.raft.progress[id] {
                replica.matchIndex = progress.match
            }
            return replica
        }
        return shard
    }
}
