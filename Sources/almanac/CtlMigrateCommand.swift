import AlmanacClient
import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacShardMap
import ArgumentParser
import Foundation
import Synchronization

/// `almanac ctl migrate SHARD --to NODE [--from NODE] [--leader]`: `execute_migration` by hand.
/// `almanac ctl migrate --resume`: finishes or rolls back migrations left by a driver that died.
struct CtlMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move a shard's replica to another node (and its leadership with --leader) by two-phase commit (docs/migration.md).",
        discussion: """
            The target joins as a learner, catches up (snapshot, then log), and is swapped in for the replica it \
            replaces by joint consensus; the shard map names it by compare-and-swap with an epoch bump, then the old \
            replica is dropped. The replaced replica is the one in the target's zone unless --from names one (a zone \
            without a replica of the shard). A target that already holds a replica with --leader moves only the \
            leadership. Progress lines show the phase, snapshot bytes sent and the target's lag. Exit codes: 0 moved, \
            1 rolled back (or superseded by another driver), 2 refused (nothing changed), 3 interrupted (run \
            `almanac ctl migrate --resume`).

            --resume leaves a migration alone while its driver shows signs of life (a heartbeat in the intent within \
            the last 15 s: a `ctl migrate` or controller still running) and removes learners no intent names. Add \
            --take-over when the driver is known to be dead, to act at once.
            """)
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "The shard whose replica moves.") var shard: UInt16?
    @Option(help: "The node that takes the replica.") var to: UInt64?
    @Option(help: "The replica that leaves (default: the one in the target's zone).") var from: UInt64?
    @Flag(help: "Move the shard's leadership to the target too.") var leader = false
    @Flag(help: "Finish or roll back every migration whose intent is still in the map and whose driver is silent.") var resume = false
    @Flag(help: "With --resume: take over migrations whose driver still looks alive (it is known to be dead).") var takeOver = false

    func validate() throws {
        if resume {
            guard shard == nil, to == nil, from == nil, !leader else { throw ValidationError("--resume takes no shard, --to, --from or --leader") }
        } else {
            guard !takeOver else { throw ValidationError("--take-over goes with --resume") }
            guard shard != nil, let to, to != 0 else { throw ValidationError("name the shard and the target: `almanac ctl migrate 1 --to 4`") }
            if let from, from == 0 || from == to { throw ValidationError("--from must name another node than --to") }
        }
    }

    func run() async throws {
        let options = try await options.withAdminToken(subject: "ctl-migrate")
        let store = try mapOptions.store(options)
        defer { Task { await store.shutdown() } }
        let (resume, shard, to, from, leader, takeOver) = (self.resume, self.shard ?? 0, self.to ?? 0, self.from, self.leader, self.takeOver)
        let stepPause = Duration.milliseconds(mapOptions.stepPauseMilliseconds)
        let nodeConfiguration = try options.clientConfiguration(
            endpoints: try options.endpointList(), attemptTimeout: .seconds(3), operationTimeout: .seconds(10), clientName: "almanac-ctl-migrate")
        try await CtlRunner.run(options, command: "migrate") { client, output throws(CtlFailure) in
            let cluster = try await CtlMigration.cluster(client, probe: nodeConfiguration)
            let driver = CtlMigration.driver(client: client, cluster: cluster, store: store, nodeConfiguration: nodeConfiguration,
                                             stepPause: stepPause, output: output)
            let (members, down) = (cluster.members, cluster.down)
            let started = ContinuousClock.now
            let reports: [MigrationReport]
            var resumption = MigrationResumption()
            do {
                if resume {
                    resumption = try await driver.resume(liveWindow: takeOver ? nil : ReplicaMigrationDriver.liveWindow)
                    reports = resumption.reports
                } else {
                    reports = [try await driver.executeMigration(
                        ReplicaMigrationPlan(shard: shard, target: to, source: from, transferLeadership: leader), members: members, down: down)]
                }
            } catch {
                throw CtlMigration.failure(error)
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if output.json {
                output.emit(reports.map {
                    CtlMigration.Report(id: $0.intent.id, shard: $0.intent.shard, outcome: $0.outcome.rawValue, source: $0.intent.source.node,
                           target: $0.intent.target.node, leader: $0.progress.leader, snapshotBytes: $0.progress.snapshotBytes,
                           catchUpSeconds: $0.progress.catchUpSeconds, snapshotSeconds: $0.progress.snapshotSeconds,
                           transferSeconds: $0.progress.transferSeconds,
                           mapEpoch: $0.mapEpoch, seconds: seconds)
                })
                return
            }
            for intent in resumption.stillDriven {
                output.line("migration \(intent.id) of shard \(intent.shard): left to its driver (alive "
                    + String(format: "%.1f s ago", Double(intent.silence(at: UInt64(Date().timeIntervalSince1970 * 1000))) / 1000)
                    + "; --take-over if it is dead)")
            }
            for stray in resumption.strays { output.line("removed \(stray) (no intent named it)") }
            if reports.isEmpty && resumption.stillDriven.isEmpty { output.line("no migration in progress") }
            for report in reports {
                let intent = report.intent
                let what = report.outcome == .leadershipMoved
                    ? "leadership of shard \(intent.shard) to node \(intent.target.node)"
                    : "shard \(intent.shard)'s replica from node \(intent.source.node) (\(intent.source.zone)) to node \(intent.target.node) (\(intent.target.zone))"
                output.line("migration \(intent.id): \(what): \(report.outcome.rawValue); map epoch \(report.mapEpoch); "
                    + "snapshot \(report.progress.snapshotBytes) bytes, caught up in "
                    + String(format: "%.2f s (snapshot sent within %.2f s, held after %.2f s, then the log); %.2f s in all",
                             report.progress.catchUpSeconds, report.progress.transferSeconds, report.progress.snapshotSeconds, seconds))
            }
        }
    }

}

/// What `ctl migrate` and `ctl node drain` share: the cluster's members, a driver, errors.
enum CtlMigration {
    struct Cluster {
        var members: [NodeID: ZoneName]
        var addresses: [NodeID: String]
        var down: Set<NodeID>
    }

    /// Members and client addresses as one node sees them, and the nodes that are down: those the
    /// responder's health view calls down that also do not answer a status request of their own
    /// (one node's view lags: right after heavy load it can call every peer down for seconds).
    static func cluster(_ client: AlmanacClient, probe: AlmanacClientConfiguration) async throws(CtlFailure) -> Cluster {
        let status: ClusterStatus
        do throws(AlmanacClientError) { status = try await client.status() } catch { throw CtlFailure(error: error, path: nil) }
        var down: Set<NodeID> = []
        for node in status.nodes where node.health == .down && node.nodeID != status.responderNodeID {
            var configuration = probe
            configuration.endpoints = [node.clientAddress]
            configuration.attemptTimeout = .seconds(2)
            configuration.operationTimeout = .seconds(2)
            let direct = AlmanacClient(configuration: configuration)
            let answered = (try? await direct.status()) != nil
            await direct.shutdown()
            if !answered { down.insert(node.nodeID) }
        }
        return Cluster(
            members: Dictionary(status.nodes.map { ($0.nodeID, $0.zone) }, uniquingKeysWith: { first, _ in first }),
            addresses: Dictionary(status.nodes.map { ($0.nodeID, $0.clientAddress) }, uniquingKeysWith: { first, _ in first }),
            down: down)
    }

    /// The migration driver over the client protocol, printing progress lines unless `--json`.
    static func driver(client: AlmanacClient, cluster: Cluster, store: any ShardMapStore, nodeConfiguration: AlmanacClientConfiguration,
                       stepPause: Duration, output: CtlOutput) -> ReplicaMigrationDriver {
        var driver = ReplicaMigrationDriver(
            transport: ClientReplicaAdminTransport(client: client, addresses: cluster.addresses, nodeConfiguration: nodeConfiguration),
            store: store, clock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        driver.stepPause = stepPause
        let json = output.json
        let lastLine = LastLine()
        driver.onProgress = { progress in
            guard !json else { return }
            let line = "migration \(progress.id) shard \(progress.shard): \(progress.phase)  snapshot \(progress.snapshotBytes) bytes  "
                + "lag \(progress.lag) entries  leader \(progress.leader == 0 ? "?" : "node \(progress.leader)")\n"
            // Unbuffered, and a repeated line (polling while catching up) only once.
            if lastLine.swap(line) != line { FileHandle.standardOutput.write(Data(line.utf8)) }
        }
        return driver
    }

    /// A driver error as a ctl failure: refused (exit 2), rolled back (1), interrupted (3).
    static func failure(_ error: any Error) -> CtlFailure {
        guard let error = error as? MigrationError else { return CtlFailure(error: AlmanacClientError(.unavailable, "\(error)"), path: nil) }
        switch error {
        case .invalid(let message): return CtlFailure(error: AlmanacClientError(.invalidArgument, code: .einval, message), path: nil)
        case .rolledBack: return CtlFailure(error: AlmanacClientError(.operation, code: .conflict, error.description), path: nil)
        case .interrupted: return CtlFailure(error: AlmanacClientError(.unavailable, error.description), path: nil)
        case .superseded: return CtlFailure(error: AlmanacClientError(.operation, code: .conflict, error.description), path: nil)
        }
    }

    struct Report: Encodable {
        var id: UInt64
        var shard: ShardID
        var outcome: String
        var source: NodeID
        var target: NodeID
        var leader: NodeID
        var snapshotBytes: UInt64
        /// Seconds from the learner's addition until it caught up (the copy).
        var catchUpSeconds: Double
        /// Of the catch-up, seconds until the target held the snapshot (the rest: the log after it).
        var snapshotSeconds: Double
        /// Of those, seconds until the last snapshot bytes went out (the copy; 200 ms polls).
        var transferSeconds: Double
        var mapEpoch: UInt64
        var seconds: Double
    }
}

/// The last progress line printed (the callback runs on any thread).
final class LastLine: Sendable {
    private let line = Mutex("")
    func swap(_ next: String) -> String { line.withLock { previous in defer { previous = next }; return previous } }
}
