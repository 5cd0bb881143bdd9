import AlmanacRaft
import NIOCore

/// Runtime membership on the host loop: replicas joining and leaving this node, configuration
/// changes and leadership transfers proposed by a group's leader (replica migration,
/// docs/migration.md).
extension HostCore {
    /// This replica's view of `id`'s configuration.
    func configuration(of id: UInt64) throws(HostError) -> ReplicaConfiguration {
        if let stoppedReason { throw .stopped(stoppedReason) }
        guard let group = groups[id] else { throw .unknownGroup(id) }
        return configuration(group)
    }

    func configuration(_ group: GroupReplica<Machine>) -> ReplicaConfiguration {
        let status = group.raft.status
        let leading = status.role == .leader
        return ReplicaConfiguration(
            group: group.id, responder: nodeID, leader: status.leader, term: status.term,
            voters: status.confState.voters, outgoingVoters: status.confState.votersOutgoing,
            learners: status.confState.learners, commitIndex: status.commit, lastIndex: status.lastIndex,
            appliedIndex: group.applied,
            matchIndex: leading ? status.progress.mapValues(\.match) : [:],
            snapshotBytesSent: group.snapshotBytesSent)
    }

    /// Starts hosting `seed` (a replica that joins at runtime); an existing replica is kept.
    func addGroup(id: UInt64, raft: RaftNode, machine: Machine, applied: LogIndex, appliedTerm: Term) throws(HostError) -> ReplicaConfiguration {
        if let stoppedReason { throw .stopped(stoppedReason) }
        if let existing = groups[id] { return configuration(existing) }
        let group = GroupReplica(id: id, raft: raft, machine: machine, applied: applied, appliedTerm: appliedTerm)
        groups[id] = group
        logger.info("replica joined", metadata: ["group": "\(id)", "applied": "\(applied)"])
        scheduleReady()
        return configuration(group)
    }

    /// Stops hosting `id`: its waiters fail, its messages are dropped from now on.
    func removeGroup(_ id: UInt64) {
        guard let group = groups.removeValue(forKey: id) else { return }
        failAll(group, .unknownGroup(id))
        logger.info("replica left", metadata: ["group": "\(id)"])
    }

    /// Proposes the configuration change `call` asks for on `id` (this replica must lead it), once
    /// its precondition holds in this leader's configuration; returns the entry's index, or nil
    /// when the configuration already is what the call asks for.
    func proposeMembership(group id: UInt64, _ call: ReplicaAdminCall) throws(HostError) -> LogIndex? {
        if let stoppedReason { throw .stopped(stoppedReason) }
        guard let group = groups[id] else { throw .unknownGroup(id) }
        guard group.role == .leader else { throw .notLeader(group: id, leader: group.leader) }
        let conf = group.raft.status.confState
        let voters = Set(conf.voters), learners = Set(conf.learners), outgoing = Set(conf.votersOutgoing)
        let change: ConfChange
        switch call {
        case .addLearner(let node):
            if voters.contains(node) || learners.contains(node) || outgoing.contains(node) { return nil }
            change = ConfChange([ConfChangeSingle(.addLearner, node)])
        case .promoteLearner(let node, let replacing):
            if voters.contains(node) && !voters.contains(replacing) { return nil }  // swapped (maybe still joint)
            guard !conf.isJoint else { throw .unavailable("group \(id) is in a joint configuration; retry once it is left") }
            guard learners.contains(node) else { throw .invalid("node \(node) is not a learner of group \(id)") }
            guard voters.contains(replacing) else { throw .invalid("node \(replacing) is not a voter of group \(id)") }
            change = ConfChange([ConfChangeSingle(.addVoter, node), ConfChangeSingle(.removeNode, replacing)], transition: .jointImplicit)
        case .removeLearner(let node):
            if !voters.contains(node) && !learners.contains(node) && !outgoing.contains(node) { return nil }
            guard learners.contains(node), !voters.contains(node), !outgoing.contains(node) else {
                throw .invalid("node \(node) is a voter of group \(id), not a learner")
            }
            change = ConfChange([ConfChangeSingle(.removeNode, node)])
        case .join, .found, .leave, .transferLeadership, .configuration:
            throw .invalid("not a configuration change")
        }
        wake(group)
        let index: LogIndex
        do throws(RaftError) {
            index = try group.raft.proposeConfChange(change)
        } catch {
            switch error {
            case .configChangePending: throw .unavailable("an earlier configuration change of group \(id) is not applied yet; retry")
            case .invalidConfigChange(let reason): throw .invalid("configuration change refused: \(reason)")
            default: throw Self.hostError(error, group: id)
            }
        }
        scheduleReady()
        return index
    }

    /// Starts a leadership transfer of `id` to `target` (a voter).
    func transferLeadership(group id: UInt64, to target: NodeID) throws(HostError) {
        if let stoppedReason { throw .stopped(stoppedReason) }
        guard let group = groups[id] else { throw .unknownGroup(id) }
        wake(group)
        do throws(RaftError) {
            try group.raft.transferLeadership(to: target)
        } catch {
            if case .unknownNode(let node) = error { throw .invalid("node \(node) is not a voter of group \(id)") }
            throw Self.hostError(error, group: id)
        }
        scheduleReady()
    }
}
