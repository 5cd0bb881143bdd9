/// JSON shape of the map (the etcd backend's value and `ctl shards --json`): segment owners are
/// written as runs `{first, last, shard}` so a 4096-segment map stays a few hundred bytes.
extension ShardMap: Codable {
    private struct Run: Codable, Hashable {
        var first: SegmentID
        var last: SegmentID
        var shard: ShardID
    }

    private enum CodingKeys: String, CodingKey {
        case segmentCount, epoch, segments, shards, handoffs, migrations, joinedMembers, removedNodes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let segmentCount = try container.decode(Int.self, forKey: .segmentCount)
        let keying: SegmentKeying
        do { keying = try SegmentKeying(segmentCount: segmentCount) } catch {
            throw DecodingError.dataCorruptedError(forKey: .segmentCount, in: container, debugDescription: error.description)
        }
        let runs = try container.decode([Run].self, forKey: .segments)
        var owners = [ShardID?](repeating: nil, count: segmentCount)
        for run in runs {
            guard run.first <= run.last, Int(run.last) < segmentCount else {
                throw DecodingError.dataCorruptedError(
                    forKey: .segments, in: container, debugDescription: "segment run \(run.first)...\(run.last) is outside 0..<\(segmentCount)")
            }
            for segment in Int(run.first)...Int(run.last) {
                guard owners[segment] == nil else {
                    throw DecodingError.dataCorruptedError(forKey: .segments, in: container, debugDescription: "segment \(segment) is assigned twice")
                }
                owners[segment] = run.shard
            }
        }
        if let missing = owners.firstIndex(where: { $0 == nil }) {
            throw DecodingError.dataCorruptedError(forKey: .segments, in: container, debugDescription: "segment \(missing) is not assigned")
        }
        do {
            try self.init(keying: keying, epoch: try container.decode(Epoch.self, forKey: .epoch),
                          owners: owners.compactMap { $0 }, shards: try container.decode([ShardRecord].self, forKey: .shards))
            try restoreIntents(handoffs: try container.decodeIfPresent([SegmentHandoffIntent].self, forKey: .handoffs) ?? [],
                               migrations: try container.decodeIfPresent([ReplicaMigrationIntent].self, forKey: .migrations) ?? [])
            try restoreMembership(joined: try container.decodeIfPresent([ClusterMember].self, forKey: .joinedMembers) ?? [],
                                  removed: try container.decodeIfPresent([NodeID].self, forKey: .removedNodes) ?? [])
        } catch let error as KeyspaceError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(keying.segmentCount, forKey: .segmentCount)
        try container.encode(epoch, forKey: .epoch)
        var runs: [Run] = []
        for (index, owner) in owners.enumerated() {
            if let last = runs.last, last.shard == owner, Int(last.last) + 1 == index {
                runs[runs.count - 1].last = SegmentID(index)
            } else {
                runs.append(Run(first: SegmentID(index), last: SegmentID(index), shard: owner))
            }
        }
        try container.encode(runs, forKey: .segments)
        try container.encode(shards.values.sorted { $0.id < $1.id }, forKey: .shards)
        if !handoffs.isEmpty { try container.encode(handoffs, forKey: .handoffs) }
        if !migrations.isEmpty { try container.encode(migrations, forKey: .migrations) }
        if !joinedMembers.isEmpty { try container.encode(joinedMembers, forKey: .joinedMembers) }
        if !removedNodes.isEmpty { try container.encode(removedNodes, forKey: .removedNodes) }
    }
}
