import AlmanacKeyspace
import AlmanacNode

/// A checker over the history a migration run recorded (every leader configuration a call answered
/// with, every map version stored, in order). Whatever the crashes, at every recorded point:
/// - each voter set (the incoming one, and the outgoing one while joint) has one voter per zone,
///   as many as there are zones; joint sets differ by one replica at most;
/// - at most one learner, and only a node some earlier intent named as a target;
/// - a voter that joins was an earlier intent's target, and one that leaves its source;
/// - the voters (and the outgoing voters while joint) are the map's replicas of the shard, or those
///   with one intent in the map at that point applied (its source out, its target in), or, for a
///   committed intent, undone (the map names the target from the commit on, while the leader may
///   still be leaving the joint configuration whose outgoing half holds the source): Raft never
///   runs a configuration the map neither names nor explains (two drivers of one migration must
///   not swap after the other cleared the intent);
/// - map epochs only grow, except that a driver's heartbeat (its liveness in an intent) changes
///   nothing else and keeps the epoch; every map version names one replica per zone for each shard and holds
///   at most one migration per shard.
enum MigrationHistory {
    enum Event: Sendable {
        case configuration(ReplicaConfiguration)
        case map(ShardMap)
        /// `node` founded `shard`'s group with first configuration `voters` (a `found` call landed).
        case founded(node: NodeID, shard: ShardID, voters: [NodeID])
    }

    static func violations(_ events: [Event], zones: [NodeID: ZoneName], zoneCount: Int) -> [String] {
        var found: [String] = []
        var targets: Set<NodeID> = [], sources: Set<NodeID> = []
        var lastVoters: Set<NodeID>?
        var lastEpoch: Epoch = 0
        var lastPlacement: ShardMap?
        var current: ShardMap?
        func onePerZone(_ voters: [NodeID]) -> Bool {
            voters.count == zoneCount && Set(voters.compactMap { zones[$0] }).count == zoneCount
        }
        for (step, event) in events.enumerated() {
            switch event {
            case .map(let map):
                let placement = map.withoutDriverLiveness
                if map.epoch < lastEpoch || (map.epoch == lastEpoch && placement != lastPlacement) {
                    found.append("step \(step): map epoch \(map.epoch) after \(lastEpoch)")
                }
                lastEpoch = map.epoch
                lastPlacement = placement
                current = map
                for record in map.shards.values where !onePerZone(record.replicas.map(\.node)) {
                    found.append("step \(step): map names \(record.replicas) for shard \(record.id)")
                }
                if Set(map.migrations.map(\.shard)).count != map.migrations.count {
                    found.append("step \(step): two migrations of one shard: \(map.migrations)")
                }
                for intent in map.migrations {
                    targets.insert(intent.target.node)
                    sources.insert(intent.source.node)
                }
            case .configuration(let view):
                if !onePerZone(view.voters) { found.append("step \(step): voters \(view.voters)") }
                if view.isJoint {
                    if !onePerZone(view.outgoingVoters) { found.append("step \(step): outgoing voters \(view.outgoingVoters)") }
                    if Set(view.voters).subtracting(view.outgoingVoters).count > 1 {
                        found.append("step \(step): joint configuration \(view.outgoingVoters) -> \(view.voters) changes more than one replica")
                    }
                }
                if view.learners.count > 1 { found.append("step \(step): learners \(view.learners)") }
                if let current, let record = current.shards[0] {
                    let mapped = Set(record.replicas.map(\.node))
                    let intents = current.migrations.filter { $0.shard == 0 }
                    let allowed = [mapped] + intents.map { mapped.subtracting([$0.source.node]).union([$0.target.node]) }
                        + intents.filter { $0.phase == .committed }.map { mapped.subtracting([$0.target.node]).union([$0.source.node]) }
                    for (name, set) in [("voters", view.voters)] + (view.isJoint ? [("outgoing voters", view.outgoingVoters)] : [])
                    where !allowed.contains(Set(set)) {
                        found.append("step \(step): \(name) \(set.sorted()) are neither the map's \(mapped.sorted()) nor explained by an intent in it")
                    }
                }
                for learner in view.learners where !targets.contains(learner) {
                    found.append("step \(step): learner \(learner) was no intent's target")
                }
                let voters = Set(view.voters)
                if let last = lastVoters {
                    for joined in voters.subtracting(last) where !targets.contains(joined) {
                        found.append("step \(step): voter \(joined) joined without an intent")
                    }
                    for left in last.subtracting(voters) where !sources.contains(left) {
                        found.append("step \(step): voter \(left) left without an intent")
                    }
                }
                lastVoters = voters
            case .founded:
                break
            }
        }
        return found
    }
}
