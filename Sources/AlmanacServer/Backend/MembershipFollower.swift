import AlmanacKeyspace
import AlmanacNode
import Logging

/// Keeps a node's view of the cluster's members in step with the shard map (docs/migration.md,
/// "Membership"): members added with `ctl node add` are connected, removed ones disconnected, and
/// the status and redirects name them. It also tells the node when it must stop serving: it was
/// removed from the cluster, or it joined without having been added.
public enum MembershipFollower {
    /// Why a node must stop serving, as its logs say.
    public struct Verdict: Sendable, Hashable, CustomStringConvertible {
        /// The node was removed (`ctl node remove`): a clean exit.
        public var removed: Bool
        public var description: String
    }

    /// What the map says of this node: nil while it may serve. A node that joined at runtime reads
    /// the stored map before it serves, so every map it follows is one the store held.
    public static func verdict(on map: ShardMap, node: NodeID, joinedAtRuntime: Bool) -> Verdict? {
        if map.removedNodes.contains(node) {
            return Verdict(removed: true, description: "node \(node) was removed from the cluster (ctl node remove); it stops serving")
        }
        if joinedAtRuntime && !map.joinedMembers.contains(where: { $0.id == node }) {
            return Verdict(removed: false, description: "node \(node) is not a member of the cluster: the shard map does not list it. "
                + "Add it first with `almanac ctl node add \(node) --zone ZONE --peer HOST:PORT --api HOST:PORT`")
        }
        return nil
    }

    /// Follows `live`'s maps until the node must stop, and returns why. The host takes every change
    /// of membership in order; the map the node started with counts too.
    public static func follow(host: MultiRaftHost<MetadataReplica>, live: LiveShardMap, joinedAtRuntime: Bool,
                              logger: Logger) async -> Verdict? {
        let (maps, continuation) = AsyncStream<ShardMap>.makeStream()
        live.observe { continuation.yield($0) }
        continuation.yield(live.current)
        let founding = host.configuration.members
        let node = host.configuration.nodeID
        var known = Set(host.members.map(\.id))
        var applied: [ClusterMember]?
        for await map in maps {
            if let verdict = verdict(on: map, node: node, joinedAtRuntime: joinedAtRuntime) { return verdict }
            let members = map.members(founding: founding)
            guard members != applied else { continue }
            do {
                try await host.setMembers(members)
                applied = members
                let now = Set(host.members.map(\.id))
                if now != known {
                    logger.notice("cluster membership changed", metadata: [
                        "epoch": "\(map.epoch)", "added": "\(now.subtracting(known).sorted())", "removed": "\(known.subtracting(now).sorted())"])
                }
                known = now
            } catch {
                logger.error("cannot take the cluster's new membership", metadata: ["epoch": "\(map.epoch)", "error": "\(error)"])
            }
        }
        return nil
    }
}
