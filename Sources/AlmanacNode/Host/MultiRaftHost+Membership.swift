import AlmanacRaft
import AlmanacStorage
import NIOCore

/// Runtime membership (replica migration, docs/migration.md): a node starts or drops a replica of
/// a group, and a group's leader changes its configuration or hands its leadership over.
///
/// None of these decides anything on its own: the migration driver orders them and checks the
/// leader's configuration between steps. Each is idempotent.
extension MultiRaftHost {
    /// Starts an empty replica of `group` here (a learner to be; the leader sends it a snapshot or
    /// the log). The join is recorded durably first, so a restart keeps hosting it. A replica that
    /// already runs is kept. A replica this node held before restarts from what its log kept.
    public func joinGroup(_ group: UInt64) async throws(HostError) -> ReplicaConfiguration {
        if let existing = try? await configuration(of: group) { return existing }
        try registry.recordJoined(group)
        let initial: RaftInitialState
        do throws(StorageError) {
            initial = try log.withEngine { (engine) throws(StorageError) -> RaftInitialState in try engine.initialState(group: group) }
        } catch {
            throw .unavailable("cannot read group \(group)'s log: \(error)")
        }
        var machine = initialMachine(group)
        var applied: LogIndex = 0
        var appliedTerm: Term = 0
        if let snapshot = initial.snapshot {
            do {
                machine = try Machine.restore(group: group, from: snapshot.data)
            } catch {
                throw .unavailable("group \(group)'s snapshot on this node cannot be restored: \(error)")
            }
            applied = snapshot.metadata.index
            appliedTerm = snapshot.metadata.term
        }
        let raftConfig: RaftConfig
        do throws(RaftConfigError) { raftConfig = try configuration.raftConfig() } catch { throw .invalid("\(error)") }
        let raft = RaftNode(config: raftConfig, initialState: initial, random: SystemRandomNumberGenerator())
        let seed = (raft, machine, applied, appliedTerm)
        return try await onLoop { core throws(HostError) in
            try core.addGroup(id: group, raft: seed.0, machine: seed.1, applied: seed.2, appliedTerm: seed.3)
        }
    }

    /// Founds `group` here with the first configuration `voters` (this node among them): a new
    /// shard at runtime. Every founding replica gets the same list and writes it into its empty log,
    /// as the static placement's groups do at the cluster's start, so they elect a leader among
    /// themselves. The founding is recorded durably first, so a restart bootstraps it the same way.
    /// Idempotent: a replica that already runs is kept and answered with, whatever `voters` says
    /// (its configuration may have changed since, by migration). A replica that does not run is
    /// refused when this node founded the group with other voters, or holds a log of it without
    /// having founded it (it joined and left it once): a second first configuration would fork the
    /// group's history.
    public func foundGroup(_ group: UInt64, voters: [NodeID]) async throws(HostError) -> ReplicaConfiguration {
        if let existing = try? await configuration(of: group) { return existing }
        let founders = Array(Set(voters)).sorted()
        if let recorded = registry.record.founded?[group], recorded != founders {
            throw .invalid("group \(group) was founded here with voters \(recorded), not \(founders)")
        }
        guard founders.contains(configuration.nodeID) else {
            throw .invalid("node \(configuration.nodeID) is not one of group \(group)'s founding voters \(founders)")
        }
        let known = members
        for voter in founders where !known.contains(where: { $0.id == voter }) {
            throw .invalid("node \(voter) is not a member of this cluster")
        }
        var initial: RaftInitialState
        do throws(StorageError) {
            initial = try log.withEngine { (engine) throws(StorageError) -> RaftInitialState in try engine.initialState(group: group) }
        } catch {
            throw .unavailable("cannot read group \(group)'s log: \(error)")
        }
        let fresh = initial.snapshot == nil && initial.entries.isEmpty && initial.hardState.term == 0
        guard fresh || registry.record.founded?[group] != nil else {
            throw .invalid("this node already holds a log of group \(group); it cannot found it again")
        }
        try registry.recordFounded(group, voters: founders)
        initial.bootstrap = ConfState(voters: founders)
        let raftConfig: RaftConfig
        do throws(RaftConfigError) { raftConfig = try configuration.raftConfig() } catch { throw .invalid("\(error)") }
        let raft = RaftNode(config: raftConfig, initialState: initial, random: SystemRandomNumberGenerator())
        let seed = (raft, initialMachine(group))
        return try await onLoop { core throws(HostError) in
            try core.addGroup(id: group, raft: seed.0, machine: seed.1, applied: 0, appliedTerm: 0)
        }
    }

    /// Drops this node's replica of `group`. The caller makes sure the group's configuration no
    /// longer counts it (the leader's view): a replica that is still a voter must not leave. Its
    /// log stays in the WAL until the WAL is purged past it.
    public func leaveGroup(_ group: UInt64) async throws(HostError) {
        try registry.recordLeft(group)
        try await onLoop { core throws(HostError) in core.removeGroup(group) }
    }

    /// This replica's view of `group`'s configuration.
    public func configuration(of group: UInt64) async throws(HostError) -> ReplicaConfiguration {
        try await onLoop { core throws(HostError) in try core.configuration(of: group) }
    }

    /// Proposes the configuration change `call` asks for (``ReplicaAdminCall/addLearner(_:)``,
    /// ``ReplicaAdminCall/promoteLearner(_:replacing:)``, ``ReplicaAdminCall/removeLearner(_:)``) on
    /// `group` (this node must lead it) once its precondition holds, and waits until this replica
    /// applied it or `timeout` passed; returns the configuration then. A failed precondition throws
    /// ``HostError/invalid(_:)`` and changes nothing. A swap returns once its joint configuration is
    /// applied; the leader then proposes the leave by itself.
    public func changeMembership(group: UInt64, _ call: ReplicaAdminCall, timeout: TimeAmount? = nil) async throws(HostError) -> ReplicaConfiguration {
        guard let index = try await onLoop({ core throws(HostError) in try core.proposeMembership(group: group, call) }) else {
            return try await configuration(of: group)
        }
        let deadline = NIODeadline.now() + (timeout ?? configuration.requestTimeout)
        while true {
            let current = try await configuration(of: group)
            if current.appliedIndex >= index { return current }
            guard NIODeadline.now() < deadline else {
                throw .timeout("configuration change of group \(group) at index \(index) not applied in time")
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Starts handing `group`'s leadership to `target` (a voter); check ``configuration(of:)`` for
    /// the outcome (a transfer is abandoned after an election timeout).
    public func transferLeadership(group: UInt64, to target: NodeID) async throws(HostError) {
        try await onLoop { core throws(HostError) in try core.transferLeadership(group: group, to: target) }
    }

    /// Carries out one ``ReplicaAdminCall`` on `group`: join and leave here, configuration changes
    /// and transfers on this node as the leader. Returns this replica's configuration afterwards
    /// (nil after a leave).
    public func replicaAdmin(group: UInt64, _ call: ReplicaAdminCall) async throws(HostError) -> ReplicaConfiguration? {
        switch call {
        case .join:
            return try await joinGroup(group)
        case .found(let voters):
            return try await foundGroup(group, voters: voters)
        case .leave:
            try await leaveGroup(group)
            return nil
        case .addLearner(let node), .promoteLearner(let node, _):
            guard members.contains(where: { $0.id == node }) else {
                throw .invalid("node \(node) is not a member of this cluster")
            }
            return try await changeMembership(group: group, call)
        case .removeLearner:
            return try await changeMembership(group: group, call)
        case .transferLeadership(let target):
            try await transferLeadership(group: group, to: target)
            return try await configuration(of: group)
        case .configuration:
            let view = try await configuration(of: group)
            guard view.isLeader else { throw .notLeader(group: group, leader: view.leader) }
            return view
        }
    }

    /// Runs `body` on the host loop with the core.
    private func onLoop<Value: Sendable>(_ body: @escaping @Sendable (HostCore<Machine>) throws(HostError) -> Value) async throws(HostError) -> Value {
        let promise = eventLoop.makePromise(of: Value.self)
        let core = self.core
        onHostLoop {
            guard let value = core.value else { return promise.fail(HostError.stopped("host stopped")) }
            do throws(HostError) {
                promise.succeed(try body(value))
            } catch {
                promise.fail(error)
            }
        }
        return try await Self.outcome(of: promise.futureResult)
    }
}
