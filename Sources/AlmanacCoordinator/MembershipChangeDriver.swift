import AlmanacKeyspace
import AlmanacShardMap

/// Why a membership change did not happen.
public enum MembershipChangeError: Error, Sendable, CustomStringConvertible {
    /// Refused (bad input, or the node still holds replicas): nothing changed.
    case invalid(String)
    /// The map store did not answer; the change may or may not be recorded (running it again is safe).
    case interrupted(String)

    public var description: String {
        switch self {
        case .invalid(let message): "membership change refused: \(message)"
        case .interrupted(let message): "membership change interrupted: \(message)"
        }
    }
}

/// Adds and removes cluster members at runtime (docs/migration.md, "Membership").
///
/// Protocol: one compare-and-swap of the shard map with an epoch bump; the map is the record, so
/// there is nothing to roll back. Every node follows the map (``ShardMap/joinedMembers``,
/// ``ShardMap/removedNodes``): it connects a new member's peer address and names it in its status
/// and redirects, and drops a removed one. A member holds replicas only through a migration or a new
/// shard afterwards; a removal is refused while it holds any, so no Raft group ever loses a voter by
/// a removal. Failure cases: the driver dies before the swap (nothing changed) or after it (done);
/// an unknown outcome (the store did not answer) is settled by running the change again, which
/// recognises its own earlier success. A node started with `serve --join` before it was added, or
/// one removed, stops serving as soon as it sees the map.
public struct MembershipChangeDriver: Sendable {
    public let store: any ShardMapStore
    /// Map store attempts (each with backoff) before a change is given up as interrupted.
    public var attempts = 8
    let pause: @Sendable (Duration) async -> Void

    public init(store: any ShardMapStore, pause: @escaping @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }) {
        self.store = store
        self.pause = pause
    }

    /// Records `member`. `current`: the members as a node reports them (its status). Returns the
    /// map as stored afterwards. Adding the same member again is a no-op.
    @discardableResult
    public func add(_ member: ClusterMember, current: [ClusterMember]) async throws(MembershipChangeError) -> ShardMap {
        try await update { map throws(KeyspaceError) in
            if map.joinedMembers.contains(member) { return false }
            try map.addMember(member, current: current)
            return true
        }
    }

    /// Removes node `node`. `current`: the members as a node reports them. `pinned`: nodes that
    /// may not leave, with the reason (those holding a replica of the system group, which stays
    /// on its founding nodes). Removing a removed node again is a no-op.
    @discardableResult
    public func remove(_ node: NodeID, current: [ClusterMember], pinned: [NodeID: String] = [:]) async throws(MembershipChangeError) -> ShardMap {
        if let reason = pinned[node] { throw .invalid("node \(node) cannot leave the cluster: \(reason)") }
        return try await update { map throws(KeyspaceError) in
            if map.removedNodes.contains(node) { return false }
            try map.removeMember(node, current: current)
            return true
        }
    }

    private func update(_ change: (inout ShardMap) throws(KeyspaceError) -> Bool) async throws(MembershipChangeError) -> ShardMap {
        do {
            return try await ShardMapUpdater(store: store, attempts: attempts, pause: pause).update(change)
        } catch let MapUpdateFailure.invalid(message) {
            throw .invalid(message)
        } catch {
            throw .interrupted("\(error)")
        }
    }
}
