import AlmanacKeyspace

/// What one node reports about one of its replicas (a shard's, or the system group's).
public struct ReplicaReport: Sendable, Hashable {
    public var node: NodeID
    /// The shard, or nil for the system group.
    public var shard: ShardID?
    /// The replica's Raft configuration as it applies it.
    public var voters: [NodeID]
    public var learners: [NodeID]
    public var appliedIndex: UInt64
    public var digest: UInt64
    /// The segments the replica's state machine owns, ascending (nil: not reported).
    public var owned: [SegmentID]?

    public init(node: NodeID, shard: ShardID?, voters: [NodeID], learners: [NodeID], appliedIndex: UInt64, digest: UInt64,
                owned: [SegmentID]? = nil) {
        self.node = node
        self.shard = shard
        self.voters = voters.sorted()
        self.learners = learners.sorted()
        self.appliedIndex = appliedIndex
        self.digest = digest
        self.owned = owned?.sorted()
    }
}

/// One disagreement `ctl check` found, with where it is.
public struct ConsistencyFinding: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable, Codable {
        /// The map, a configuration or a state differ: something is wrong.
        case error
        /// Could not be decided now (a node did not answer, replicas at different indexes).
        case inconclusive
    }

    public var severity: Severity
    /// "shard 2", "system group", "map".
    public var location: String
    public var message: String

    public var description: String { "\(severity == .error ? "ERROR" : "inconclusive")  \(location): \(message)" }
}

/// `almanac ctl check` (pure): the shard map, every group's Raft configuration and every
/// replica's state digest agree.
///
/// - The map is valid for the cluster's members (every replica a member, in its zone).
/// - For every shard in the map: each node the map names reports a replica, each replica's Raft
///   voters are exactly the map's nodes, and no node outside the map hosts the shard.
/// - Every shard replica's state machine owns exactly the segments the map gives its shard (unless a
///   hand-off of that shard is in progress, or the replica is behind its group: inconclusive).
/// - Every group (the system group too): all replicas agree on the configuration, and replicas
///   at the same applied index have the same state digest (a difference is divergence). Replicas
///   at different indexes cannot be compared now (inconclusive; `ctl check` retries).
public enum ConsistencyCheck {
    public static func evaluate(map: ShardMap, members: [NodeID: ZoneName], answered: Set<NodeID>,
                                replicas: [ReplicaReport]) -> [ConsistencyFinding] {
        var findings: [ConsistencyFinding] = []
        do {
            try map.validate(knownNodes: members)
        } catch {
            findings.append(ConsistencyFinding(severity: .error, location: "map", message: "\(error)"))
        }
        for node in members.keys.sorted() where !answered.contains(node) {
            findings.append(ConsistencyFinding(severity: .inconclusive, location: "node \(node)", message: "did not answer; its replicas are not checked"))
        }
        let byGroup = Dictionary(grouping: replicas, by: \.shard)
        for shard in map.shards.keys.sorted() {
            guard let record = map.shards[shard] else { continue }
            let location = "shard \(shard)"
            let expected = record.replicas.map(\.node).sorted()
            let reports = byGroup[shard] ?? []
            // While a replica migration of the shard runs, the map, the configurations and the hosted
            // replicas legitimately differ (docs/migration.md): those differences are inconclusive.
            let migration = map.migrations.first { $0.shard == shard }
            let membership: ConsistencyFinding.Severity = migration == nil ? .error : .inconclusive
            let during = migration.map { " (migration \($0.id) of node \($0.source.node) -> \($0.target.node) in progress)" } ?? ""
            for node in expected where answered.contains(node) && !reports.contains(where: { $0.node == node }) {
                findings.append(ConsistencyFinding(severity: membership, location: location,
                                                   message: "the map places a replica on node \(node), which hosts none\(during)"))
            }
            for report in reports where !expected.contains(report.node) {
                findings.append(ConsistencyFinding(severity: membership, location: location,
                                                   message: "node \(report.node) hosts a replica the map does not list (map: \(expected))\(during)"))
            }
            let newest = reports.map(\.appliedIndex).max() ?? 0
            for report in reports where report.voters != expected {
                // A replica behind its group may not have applied the latest configuration change yet.
                let severity: ConsistencyFinding.Severity = report.appliedIndex < newest ? .inconclusive : membership
                findings.append(ConsistencyFinding(severity: severity, location: location,
                                                   message: "node \(report.node)'s Raft configuration has voters \(report.voters), the map \(expected)\(during)"))
            }
            findings += ownership(of: reports, expected: map.segments(of: shard), location: location,
                                  handoff: map.handoffs.first { $0.source == shard || $0.target == shard })
            findings += agreement(of: reports, location: location)
        }
        for (shard, reports) in byGroup {
            guard let shard, map.shards[shard] == nil else { continue }
            findings.append(ConsistencyFinding(severity: .error, location: "shard \(shard)",
                                               message: "nodes \(reports.map(\.node).sorted()) host a shard the map does not list"))
        }
        if let system = byGroup[nil] {
            let configurations = Set(system.map(\.voters))
            if configurations.count > 1 {
                findings.append(ConsistencyFinding(severity: .error, location: "system group",
                                                   message: "replicas disagree on voters: \(system.sorted { $0.node < $1.node }.map { "node \($0.node): \($0.voters)" }.joined(separator: ", "))"))
            }
            findings += agreement(of: system, location: "system group")
        }
        return findings
    }

    /// Each replica owns exactly the map's segments of its shard.
    static func ownership(of reports: [ReplicaReport], expected: [SegmentID], location: String,
                          handoff: SegmentHandoffIntent?) -> [ConsistencyFinding] {
        let newest = reports.map(\.appliedIndex).max() ?? 0
        var findings: [ConsistencyFinding] = []
        for report in reports.sorted(by: { $0.node < $1.node }) {
            guard let owned = report.owned, owned != expected else { continue }
            let extra = Set(owned).subtracting(expected).sorted()
            let missing = Set(expected).subtracting(owned).sorted()
            let detail = "node \(report.node)'s replica owns \(owned.count) segments, the map gives the shard \(expected.count)"
                + (extra.isEmpty ? "" : "; owned but mapped elsewhere: \(describe(extra))")
                + (missing.isEmpty ? "" : "; mapped here but not owned: \(describe(missing))")
            if let handoff {
                findings.append(ConsistencyFinding(severity: .inconclusive, location: location,
                                                   message: "\(detail) (hand-off \(handoff.id) in progress)"))
            } else if report.appliedIndex < newest {
                findings.append(ConsistencyFinding(severity: .inconclusive, location: location,
                                                   message: "\(detail) (the replica is behind, at \(report.appliedIndex) of \(newest))"))
            } else {
                findings.append(ConsistencyFinding(severity: .error, location: location, message: detail))
            }
        }
        return findings
    }

    /// "3, 10-20" for a short list of ascending segments (at most 4 runs shown).
    static func describe(_ segments: [SegmentID]) -> String {
        var runs: [(SegmentID, SegmentID)] = []
        for segment in segments {
            if let last = runs.last, last.1 &+ 1 == segment { runs[runs.count - 1].1 = segment } else { runs.append((segment, segment)) }
        }
        let shown = runs.prefix(4).map { $0.0 == $0.1 ? "\($0.0)" : "\($0.0)-\($0.1)" }.joined(separator: ", ")
        return runs.count > 4 ? shown + ", ... (\(segments.count) segments)" : shown
    }

    /// Replicas at one applied index must have one digest; different indexes are inconclusive.
    static func agreement(of reports: [ReplicaReport], location: String) -> [ConsistencyFinding] {
        var findings: [ConsistencyFinding] = []
        for (index, atIndex) in Dictionary(grouping: reports, by: \.appliedIndex).sorted(by: { $0.key < $1.key }) {
            let digests = Set(atIndex.map(\.digest))
            if digests.count > 1 {
                let detail = atIndex.sorted { $0.node < $1.node }.map { "node \($0.node): \(String($0.digest, radix: 16))" }.joined(separator: ", ")
                findings.append(ConsistencyFinding(severity: .error, location: location,
                                                   message: "replicas DIVERGED at applied index \(index): \(detail)"))
            }
        }
        let indexes = Set(reports.map(\.appliedIndex))
        if indexes.count > 1 {
            let detail = reports.sorted { $0.node < $1.node }.map { "node \($0.node) at \($0.appliedIndex)" }.joined(separator: ", ")
            findings.append(ConsistencyFinding(severity: .inconclusive, location: location,
                                               message: "replicas at different applied indexes (\(detail)); digests compared only where equal"))
        }
        return findings
    }
}
