import AlmanacClient
import AlmanacCoordinator
import AlmanacKeyspace
import ArgumentParser
import Foundation

/// `almanac ctl node drain N`: moves every replica node N holds to another node of its zone (the one
/// holding the fewest replicas), one `execute_migration` at a time; a shard it leads hands its
/// leadership to another voter first. Afterwards the node holds no shard replica and may be
/// stopped for maintenance.
struct CtlNodeDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Move every shard replica off a node, to other nodes of its zone (replica migration, docs/migration.md).",
        discussion: """
            Needs another node in the drained node's zone that holds no replica of the shard. Shards that cannot \
            move are reported and left; the exit code is then 1 (2: refused before anything moved; 3: a migration \
            was interrupted, run `almanac ctl migrate --resume`).
            """)
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "The node to drain.") var node: UInt64

    func run() async throws {
        let options = try await options.withAdminToken(subject: "ctl-node-drain")
        let store = try mapOptions.store(options)
        defer { Task { await store.shutdown() } }
        let nodeConfiguration = try options.clientConfiguration(
            endpoints: try options.endpointList(), attemptTimeout: .seconds(3), operationTimeout: .seconds(10), clientName: "almanac-ctl-drain")
        let (drained, stepPause) = (node, Duration.milliseconds(mapOptions.stepPauseMilliseconds))
        try await CtlRunner.run(options, command: "node drain") { client, output throws(CtlFailure) in
            let cluster = try await CtlMigration.cluster(client, probe: nodeConfiguration)
            guard let zone = cluster.members[drained] else {
                throw CtlFailure(error: AlmanacClientError(.invalidArgument, code: .einval, "node \(drained) is not a member of the cluster"), path: nil)
            }
            let driver = CtlMigration.driver(client: client, cluster: cluster, store: store, nodeConfiguration: nodeConfiguration,
                                             stepPause: stepPause, output: output)
            let map: ShardMap
            do {
                guard let loaded = try await store.load() else { throw MigrationError.invalid("no map stored under this cluster id") }
                map = loaded.map
            } catch {
                throw CtlMigration.failure(error)
            }
            let held = map.shards.values.filter { $0.replicas.contains { $0.node == drained } }.map(\.id).sorted()
            // Replicas per node, kept up to date as the drain places them.
            var load: [NodeID: Int] = [:]
            for record in map.shards.values { for replica in record.replicas { load[replica.node, default: 0] += 1 } }
            var moved: [String] = [], stuck: [String] = []
            for shard in held {
                let holders = Set(map.shards[shard]?.replicas.map(\.node) ?? [])
                let candidates = cluster.members.filter { $0.value == zone && $0.key != drained && !holders.contains($0.key) && !cluster.down.contains($0.key) }
                    .map(\.key).sorted { (load[$0] ?? 0, $0) < (load[$1] ?? 0, $1) }
                guard let target = candidates.first else {
                    stuck.append("shard \(shard): no other live node in \(zone) without a replica of it")
                    continue
                }
                do {
                    let report = try await driver.executeMigration(
                        ReplicaMigrationPlan(shard: shard, target: target, source: drained), members: cluster.members, down: cluster.down)
                    load[target, default: 0] += 1
                    moved.append("shard \(shard) -> node \(target) (\(report.outcome.rawValue))")
                } catch {
                    let failure = CtlMigration.failure(error)
                    // An interrupted migration stops the drain (its intent waits for --resume).
                    if case .interrupted? = error as? MigrationError { throw failure }
                    stuck.append("shard \(shard): \(failure.error.message)")
                }
            }
            if output.json {
                output.emit(Summary(node: drained, moved: moved, stuck: stuck))
            } else {
                if held.isEmpty { output.line("node \(drained) holds no shard replica") }
                for line in moved { output.line("moved \(line)") }
                for line in stuck { output.line("left \(line)") }
            }
            if !stuck.isEmpty {
                throw CtlFailure(error: AlmanacClientError(.operation, code: .conflict, "node \(drained) still holds \(stuck.count) replica(s)"), path: nil)
            }
        }
    }

    struct Summary: Encodable {
        var node: NodeID
        var moved: [String]
        var stuck: [String]
    }
}
