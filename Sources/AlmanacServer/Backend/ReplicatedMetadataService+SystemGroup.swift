import AlmanacMetadata
import AlmanacNode
import AlmanacRaft

/// The system group's register through the node's host: the embedded shard map store's server side.
///
/// - load: a linearizable read (ReadIndex) on the system group's leader;
/// - compare-and-swap: a proposal; a lost one reads the current record to report it;
/// - watch: reads through the leader and waits until the key's revision passes the caller's, woken by
///   every apply of the system group (``AppliedIndexSignal``), never by polling.
///
/// Not the leader: NOT_LEADER with the leader's endpoint; no replica here: NOT_LEADER pointing at
/// a node that holds one.
extension ReplicatedMetadataService: SystemStoreService {
    public func systemStore(key: String, call: SystemStoreCall) async throws(ServiceError) -> SystemStoreOutcome {
        guard let signal = systemApplied else {
            throw ServiceError(.unsupported, "this cluster keeps its shard map outside the system group (no embedded store)")
        }
        guard !key.isEmpty, key.utf8.count <= SystemRegisterCommand.maxKeyBytes else {
            throw ServiceError(.invalidArgument, "a system store key has 1...\(SystemRegisterCommand.maxKeyBytes) bytes, not \(key.utf8.count)")
        }
        switch call {
        case .load:
            return SystemStoreOutcome(record: try await systemRecords(key, after: nil, linearizable: true).current)
        case .compareAndSwap(let expected, let value):
            let command = SystemRegisterCommand.compareAndSwap(key: key, expectedRevision: expected, value: value)
            let applied: AppliedResult<CommandResult>
            do {
                applied = try await host.propose(group: SystemGroup.groupID, data: command.encoded())
            } catch {
                throw systemError(error)
            }
            switch applied.result {
            case .success:
                return SystemStoreOutcome(record: SystemRegister.Record(value: value, revision: applied.index))
            case .failure(let error) where error.code == .conflict:
                return SystemStoreOutcome(record: try await systemRecords(key, after: nil, linearizable: false).current, conflict: true)
            case .failure(let error):
                throw ServiceError(.invalidArgument, "system store: \(error.message)")
            }
        case .watch(let after, let waitMilliseconds):
            let clock = ContinuousClock()
            let deadline = clock.now + .milliseconds(Int(min(waitMilliseconds, 30_000)))
            while true {
                // Read through the leader (ReadIndex), so a watcher never goes back in time by
                // switching to a lagging follower. Watches are rare; the round is cheap.
                let seen = signal.index
                let (record, newer) = try await systemRecords(key, after: after, linearizable: true)
                if !newer.isEmpty || clock.now >= deadline { return SystemStoreOutcome(record: record, versions: newer) }
                await signal.wait(beyond: seen, timeout: deadline - clock.now)
            }
        }
    }

    /// The key's current record and, with `after`, its retained versions newer than that revision.
    private func systemRecords(_ key: String, after: UInt64?, linearizable: Bool) async throws(ServiceError)
        -> (current: SystemRegister.Record?, newer: [SystemRegister.Record])
    {
        do {
            let result = try await host.read(group: SystemGroup.groupID, linearizable: linearizable) { replica in
                (replica.system?.record(key), after.map { replica.system?.versions(of: key, after: $0) ?? [] } ?? [])
            }
            return result.value
        } catch {
            throw systemError(error)
        }
    }

    /// A host error on the system group as the client sees it.
    private func systemError(_ error: any Error) -> ServiceError {
        let hostError = Self.hostError(error)
        if case .unknownGroup = hostError {
            // No replica here (more nodes than zones): point at one that has one.
            // The system group stays on the founding members' static placement.
            let holders = ReplicaPlacement.replicas(of: SystemGroup.groupID, members: host.configuration.members)
            if let holder = holders.first, let member = members[holder] {
                return ServiceError(.notLeader, "node \(host.configuration.nodeID) holds no replica of the system group; node \(holder) does",
                                    leaderHint: LeaderHint(nodeID: holder, address: member.apiAddress, zone: member.zone))
            }
        }
        var mapped = serviceError(hostError, shard: 0)
        mapped.message = mapped.message.replacingOccurrences(of: "shard 0", with: "the system group")
        return mapped
    }
}
