import AlmanacClient
import AlmanacKeyspace
import AlmanacWire
import ArgumentParser
import Foundation

/// `almanac ctl shards`: the shard map (segments per shard, replicas, leaders, epochs) next to the
/// live status of every shard.
struct CtlShards: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "shards", abstract: "Segments, replicas, leaders and epochs of every shard.")
    @OptionGroup var options: CtlOptions

    func run() async throws {
        try await CtlRunner.run(options, command: "shards") { client, output throws(CtlFailure) in
            let map = try await onPath(nil) { () async throws(AlmanacClientError) in try await client.shardMapMessage() }
            let status = try await onPath(nil) { () async throws(AlmanacClientError) in try await client.status() }
            // Every node counts the requests it served: ask each one and add them up.
            let loads = await Self.segmentLoads(nodes: status.nodes, options: options)
            if output.json {
                output.line((try? map.jsonString()) ?? "{}")
                return
            }
            output.line("shard map: backend \(map.backend)\(CtlStatus.storeHealth(map)), epoch \(map.epoch), \(map.segmentCount) segments")
            let window = loads.window > 0 ? "last \(loads.window / 60) min" : "no access counted yet"
            output.line("access monitor (\(window), requests served per segment, all nodes):")
            let hottest = loads.bySegment.sorted { ($0.value.reads + $0.value.writes, $1.key) > ($1.value.reads + $1.value.writes, $0.key) }.prefix(5)
            for (segment, load) in hottest {
                output.line("  segment \(segment) (shard \(load.shard)): \(load.reads) reads, \(load.writes) writes")
            }
            // A node reports the shards it hosts; with more nodes than zones no node hosts them all.
            var live = Dictionary(status.shards.map { ($0.shardID, $0) }, uniquingKeysWith: { first, _ in first })
            if map.shards.contains(where: { live[UInt64($0.shardID)] == nil }) {
                for other in await Self.nodeStatuses(nodes: status.nodes, options: options) {
                    for shard in other.shards where live[shard.shardID] == nil || (live[shard.shardID]?.leaderNodeID == 0 && shard.leaderNodeID != 0) {
                        live[shard.shardID] = shard
                    }
                }
            }
            for shard in map.shards {
                let runs = map.segments.filter { $0.shard == shard.shardID }
                let count = runs.reduce(0) { $0 + Int($1.last - $1.first + 1) }
                let ranges = runs.map { $0.first == $0.last ? "\($0.first)" : "\($0.first)-\($0.last)" }.joined(separator: ",")
                let state = live[UInt64(shard.shardID)]
                let leader = state.map { $0.leaderNodeID == 0 ? "none" : "node \($0.leaderNodeID)" } ?? "unknown"
                let shardLoads = loads.bySegment.values.filter { $0.shard == shard.shardID }
                let reads = shardLoads.reduce(0) { $0 + $1.reads }
                let writes = shardLoads.reduce(0) { $0 + $1.writes }
                output.line("shard \(shard.shardID)  epoch \(shard.epoch)  leader \(leader)  segments \(count) [\(ranges)]"
                    + (state.map { "  commit \($0.commitIndex)" } ?? "")
                    + "  load \(reads) reads, \(writes) writes in \(shardLoads.count) active segments"
                    + (shard.migrationTimestamp == 0 ? "" : "  migrated at \(shard.migrationTimestamp) ms"))
                for replica in shard.replicas {
                    output.line("    node \(replica.nodeID)  zone \(replica.zone)  client \(replica.clientAddress)")
                }
            }
            // Protocols in progress (their intents in the map; `ctl reshard resume` / `ctl migrate --resume`).
            for handoff in map.handoffs {
                output.line("hand-off \(handoff.id) in progress (\(handoff.phase)): \(handoff.segments.count) segments, shard \(handoff.sourceShard) -> \(handoff.targetShard)")
            }
            for migration in map.migrations {
                output.line("migration \(migration.id) in progress (\(migration.phase)): shard \(migration.shardID)'s replica, node \(migration.sourceNodeID) (\(migration.sourceZone)) -> node \(migration.targetNodeID) (\(migration.targetZone))"
                    + (migration.transferLeadership ? ", with the leadership" : ""))
            }
        }
    }
}

extension CtlShards {
    struct Load {
        var shard: UInt32
        var reads: UInt64
        var writes: UInt64
    }

    /// Every node's own status (its access monitor counts what it served), asked of all nodes at
    /// once; nodes that do not answer are skipped. `stateDigests` asks each node for its replicas'
    /// state digests (O(state size) per replica: a shard of a gigabyte takes seconds, so the
    /// deadline is longer). Each node copies its state machines when the request arrives and
    /// digests the copies afterwards, so asking all nodes at once keeps their samples close in time
    /// (asked one after another, a group that kept writing, such as the system group, was at
    /// different applied indexes on every node behind a 1 GB shard's digests).
    static func nodeStatuses(nodes: [Almanac_Api_V1_NodeStatus], options: CtlOptions, stateDigests: Bool = false) async -> [Almanac_Api_V1_ClusterStatus] {
        let asked = nodes.filter { !$0.clientAddress.isEmpty }
        let answers = await withTaskGroup(of: (Int, Almanac_Api_V1_ClusterStatus?).self) { group in
            for (position, node) in asked.enumerated() {
                group.addTask {
                    guard let configuration = try? options.clientConfiguration(
                        endpoints: [node.clientAddress], attemptTimeout: .seconds(stateDigests ? 60 : 2),
                        operationTimeout: .seconds(stateDigests ? 60 : 3), clientName: "ctl-shards")
                    else { return (position, nil) }
                    let one = AlmanacClient(configuration: configuration)
                    let status = try? await one.status(stateDigests: stateDigests)
                    await one.shutdown()
                    guard let status, status.responderNodeID == node.nodeID else { return (position, nil) }
                    return (position, status)
                }
            }
            var collected: [(Int, Almanac_Api_V1_ClusterStatus?)] = []
            for await answer in group { collected.append(answer) }
            return collected
        }
        return answers.sorted { $0.0 < $1.0 }.compactMap(\.1)
    }

    /// Every node's access monitor, added up per segment (nodes that do not answer are skipped).
    static func segmentLoads(nodes: [Almanac_Api_V1_NodeStatus], options: CtlOptions) async -> (bySegment: [UInt32: Load], window: UInt32) {
        var bySegment: [UInt32: Load] = [:]
        var window: UInt32 = 0
        for status in await nodeStatuses(nodes: nodes, options: options) {
            window = max(window, status.accessWindowSeconds)
            for load in status.segmentLoads {
                var total = bySegment[load.segment] ?? Load(shard: load.shard, reads: 0, writes: 0)
                total.reads += load.reads
                total.writes += load.writes
                bySegment[load.segment] = total
            }
        }
        return (bySegment, window)
    }
}

/// `almanac ctl locate PATH`: the segment, shard, leader and replicas a path's record lives on
/// (the seed's `get_shard_location(key)`).
struct CtlLocate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "locate", abstract: "The segment, shard and leader of a path.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "Absolute path.") var path: String

    func run() async throws {
        let path = self.path
        try await CtlRunner.run(options, command: "locate") { client, output throws(CtlFailure) in
            let attributes = try await onPath(path) { () async throws(AlmanacClientError) in try await client.resolve(path) }
            let location = try await onPath(path) { () async throws(AlmanacClientError) in try await client.location(ofInode: attributes.inode) }
            let status = try await onPath(nil) { () async throws(AlmanacClientError) in try await client.status() }
            guard let location else {
                throw AlmanacClientError(.invalidArgument, code: .einval, "its segment is outside the shard map").at(path)
            }
            let leader = status.shards.first { $0.shardID == UInt64(location.shard) }?.leaderNodeID ?? location.leader
            if output.json {
                struct Located: Encodable {
                    var path: String, inode: UInt64, segment: UInt16, shard: UInt16, leader: UInt64, replicas: [UInt64], shardEpoch: UInt64, mapEpoch: UInt64
                }
                output.emit(Located(path: path, inode: attributes.inode, segment: location.segment, shard: location.shard, leader: leader,
                                    replicas: location.replicas.map(\.node), shardEpoch: location.epoch, mapEpoch: location.mapEpoch))
                return
            }
            output.line("""
                  path: \(path)
                 inode: \(attributes.inode)
               segment: \(location.segment)\(attributes.type == .directory ? " (its entries and its files' attributes)" : "")
                 shard: \(location.shard)  (shard epoch \(location.epoch), map epoch \(location.mapEpoch))
                leader: \(leader == 0 ? "none" : "node \(leader)")
              replicas: \(location.replicas.map { "node \($0.node) (\($0.zone))" }.joined(separator: ", "))
            """)
        }
    }
}
