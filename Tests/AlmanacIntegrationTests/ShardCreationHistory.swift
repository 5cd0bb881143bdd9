import AlmanacKeyspace

/// A checker over the history a shard creation run recorded (every map version stored and every
/// `found` call that landed, in order; docs/migration.md "New shards at runtime"). Whatever the
/// crashes and lost answers:
/// - a group is founded only after a map version defines its shard, on a node the map places it on,
///   with the map's replicas as its first configuration; every founding of one shard has the same;
/// - a shard, once defined, stays defined with the same replicas (no migration runs in these
///   tests), so an id is never reused for another group;
/// - a shard owns segments only after one of its replicas was founded (no segment on a group
///   that does not run).
enum ShardCreationHistory {
    /// `running`: the shards whose groups ran before the history began (founded at start).
    static func violations(_ events: [MigrationHistory.Event], running: Set<ShardID>) -> [String] {
        var found: [String] = []
        var defined: [ShardID: Set<NodeID>] = [:]
        var founders: [ShardID: [NodeID]] = [:]
        var foundedShards = running
        for (step, event) in events.enumerated() {
            switch event {
            case .map(let map):
                for (id, record) in map.shards {
                    let replicas = Set(record.replicas.map(\.node))
                    if let earlier = defined[id], earlier != replicas {
                        found.append("step \(step): shard \(id) redefined with replicas \(replicas.sorted()) (was \(earlier.sorted()))")
                    }
                    defined[id] = replicas
                }
                for id in defined.keys where map.shards[id] == nil {
                    found.append("step \(step): shard \(id) vanished from the map")
                }
                for id in Set(map.owners) where !foundedShards.contains(id) {
                    found.append("step \(step): shard \(id) owns segments before any replica of it was founded")
                }
            case .founded(let node, let shard, let voters):
                guard let replicas = defined[shard] else {
                    found.append("step \(step): node \(node) founded shard \(shard), which no map version defined yet")
                    continue
                }
                if !replicas.contains(node) { found.append("step \(step): node \(node) founded shard \(shard), placed on \(replicas.sorted())") }
                if Set(voters) != replicas {
                    found.append("step \(step): shard \(shard) founded with voters \(voters.sorted()), the map names \(replicas.sorted())")
                }
                if let first = founders[shard], Set(first) != Set(voters) {
                    found.append("step \(step): shard \(shard) founded with voters \(voters.sorted()) after \(first.sorted())")
                }
                founders[shard] = founders[shard] ?? voters
                foundedShards.insert(shard)
            case .configuration:
                break
            }
        }
        return found
    }
}
