import AlmanacRaft

/// Places each group's replicas one per zone (pure and deterministic, so every node computes the
/// same placement from the same member list).
public enum ReplicaPlacement {
    /// Why a member list cannot host replicated groups.
    public struct PlacementError: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// The voters of `group`: in every zone (sorted by name), the member at position
    /// `group mod (members in the zone)` of that zone's members sorted by id.
    public static func replicas(of group: UInt64, members: [ClusterMember]) -> [NodeID] {
        let byZone = Dictionary(grouping: members, by: \.zone)
        return byZone.keys.sorted().compactMap { zone in
            guard let nodes = byZone[zone]?.map(\.id).sorted(), !nodes.isEmpty else { return nil }
            return nodes[Int(group % UInt64(nodes.count))]
        }.sorted()
    }

    /// Distinct zones a cluster needs: each group has one replica per zone and commits on a
    /// majority, so only with at least 3 zones does a majority survive the loss of any one zone
    /// (with 2 zones, losing either loses the majority; with 1 there is no zone redundancy at all).
    public static let minimumZones = 3

    /// Checks a member list: unique non-zero ids, non-empty zones, at least `minimumZones` distinct zones.
    public static func validate(_ members: [ClusterMember], minimumZones: Int = ReplicaPlacement.minimumZones) throws(PlacementError) {
        var ids = Set<NodeID>()
        for member in members {
            if member.id == 0 { throw PlacementError(description: "node id 0 is reserved") }
            if !ids.insert(member.id).inserted { throw PlacementError(description: "node id \(member.id) appears twice") }
            if member.zone.isEmpty { throw PlacementError(description: "node \(member.id) has an empty zone label") }
        }
        let zones = Set(members.map(\.zone))
        if zones.count < minimumZones {
            throw PlacementError(description: "\(zones.count) distinct zone(s) configured (\(zones.sorted().joined(separator: ", "))), "
                + "at least \(minimumZones) needed: one replica per zone, and a majority must survive the loss of a zone")
        }
    }
}
