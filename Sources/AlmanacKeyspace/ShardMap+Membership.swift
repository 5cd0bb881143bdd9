/// Cluster membership at runtime (docs/migration.md, "Membership"): nodes added and removed while
/// the cluster serves. The founding members are in every node's configuration and fix the static
/// placement of the groups the cluster started with; the map records only what changed since, so a
/// map bootstrapped before this existed stays valid.
///
/// A member holds replicas only through a migration (`ctl migrate`, `ctl node drain`) or a new
/// shard, never by being added; a member can be removed only once it holds none.
extension ShardMap {
    /// The members of the cluster: `founding` (the configuration's list) and ``joinedMembers``,
    /// without ``removedNodes``, by id.
    public func members(founding: [ClusterMember]) -> [ClusterMember] {
        var byID: [NodeID: ClusterMember] = [:]
        for member in founding { byID[member.id] = byID[member.id] ?? member }
        for member in joinedMembers { byID[member.id] = member }
        for node in removedNodes { byID[node] = nil }
        return byID.values.sorted { $0.id < $1.id }
    }

    /// `founding` (or any list of members with their zones) with ``joinedMembers`` added and
    /// ``removedNodes`` taken out: the nodes a replica may name.
    public func knownNodes(_ founding: [NodeID: ZoneName]) -> [NodeID: ZoneName] {
        var known = founding
        for member in joinedMembers { known[member.id] = member.zone }
        for node in removedNodes { known[node] = nil }
        return known
    }

    /// Records `member` as a member of the cluster. `current`: the members as the caller knows them
    /// (``members(founding:)``). Refused: id 0, an id in use or once used (removed ids are never
    /// reused), an empty zone, a malformed address, or an address another member uses.
    public mutating func addMember(_ member: ClusterMember, current: [ClusterMember]) throws(KeyspaceError) {
        guard member.id != 0 else { throw KeyspaceError.invalid("node id 0 means no node; pick a positive id") }
        guard !member.zone.isEmpty else { throw KeyspaceError.invalid("node \(member.id) needs a zone") }
        for address in [member.peerAddress, member.apiAddress] where ClusterMember.split(address) == nil {
            throw KeyspaceError.invalid("node \(member.id): bad address \"\(address)\" (expected host:port)")
        }
        guard member.peerAddress != member.apiAddress else {
            throw KeyspaceError.invalid("node \(member.id): the peer and client addresses must differ")
        }
        if removedNodes.contains(member.id) {
            throw KeyspaceError.invalid("node id \(member.id) belonged to a removed node; ids are never reused")
        }
        let others = current + joinedMembers
        if others.contains(where: { $0.id == member.id }) {
            throw KeyspaceError.invalid("node \(member.id) is already a member of the cluster")
        }
        for other in others {
            for address in [member.peerAddress, member.apiAddress] where address == other.peerAddress || address == other.apiAddress {
                throw KeyspaceError.invalid("address \(address) is already used by node \(other.id)")
            }
        }
        joinedMembers.append(member)
        joinedMembers.sort { $0.id < $1.id }
        bumpEpoch()
    }

    /// Removes node `id` from the cluster. `current`: the members as the caller knows them.
    /// Refused while any shard names the node as a replica or a migration names it as its source
    /// or target: drain it first (`ctl node drain`).
    public mutating func removeMember(_ id: NodeID, current: [ClusterMember]) throws(KeyspaceError) {
        if removedNodes.contains(id) { throw KeyspaceError.invalid("node \(id) was already removed") }
        guard current.contains(where: { $0.id == id }) || joinedMembers.contains(where: { $0.id == id }) else {
            throw KeyspaceError.invalid("node \(id) is not a member of the cluster")
        }
        let holding = shards.values.filter { $0.replicas.contains { $0.node == id } }.map(\.id).sorted()
        if !holding.isEmpty {
            throw KeyspaceError.invalid("node \(id) still holds replicas of shard(s) \(holding.map(String.init).joined(separator: ", ")); "
                + "move them first (almanac ctl node drain \(id))")
        }
        if let busy = migrations.first(where: { $0.source.node == id || $0.target.node == id }) {
            throw KeyspaceError.invalid("node \(id) takes part in migration \(busy.id) of shard \(busy.shard); wait for it to finish")
        }
        joinedMembers.removeAll { $0.id == id }
        removedNodes.append(id)
        removedNodes.sort()
        bumpEpoch()
    }

    /// Sets the membership changes as a stored or transmitted map carries them (decoding only:
    /// changes go through ``addMember(_:current:)`` and ``removeMember(_:current:)``).
    public mutating func restoreMembership(joined: [ClusterMember], removed: [NodeID]) throws(KeyspaceError) {
        guard Set(joined.map(\.id)).count == joined.count else { throw KeyspaceError.invalid("a joined member appears twice") }
        if let both = joined.first(where: { removed.contains($0.id) }) {
            throw KeyspaceError.invalid("node \(both.id) is both joined and removed")
        }
        guard !joined.contains(where: { $0.id == 0 }), !removed.contains(0) else { throw KeyspaceError.invalid("node id 0 in the membership") }
        joinedMembers = joined.sorted { $0.id < $1.id }
        removedNodes = Array(Set(removed)).sorted()
    }
}
