import AlmanacClient
import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacSecurity
import AlmanacShardMap
import ArgumentParser
import Foundation

/// Where `ctl reshard move|merge|split|resume|status` find the shard map store.
struct CtlMapStoreOptions: ParsableArguments {
    @Option(name: .customLong("shard-map"), help: "The cluster's shard map store: embedded (the cluster's system group, reached through --endpoints) or etcd://host:port,...")
    var shardMap: String = "embedded"
    @Option(help: "The cluster id the map is stored under (serve --cluster-id).")
    var clusterID: String = "almanac"
    @Option(name: .customLong("page-bytes"), help: "Approximate bytes of records per copy command (1 KiB ... 512 KiB).")
    var pageBytes: UInt32 = 256 * 1024
    @Option(name: .customLong("step-pause-ms"), help: "Pause after each progress step, in milliseconds (to watch a hand-off, or to interrupt it at a chosen step).")
    var stepPauseMilliseconds: Int = 0

    func validate() throws {
        guard (1024...512 * 1024).contains(pageBytes) else { throw ValidationError("--page-bytes must be in 1024...524288") }
        guard (0...60_000).contains(stepPauseMilliseconds) else { throw ValidationError("--step-pause-ms must be in 0...60000") }
    }

    func store(_ options: CtlOptions) throws -> any ShardMapStore {
        if shardMap == "embedded" {
            let configuration = try options.clientConfiguration(
                endpoints: try options.endpointList(), attemptTimeout: .seconds(3), operationTimeout: .seconds(6), clientName: "almanac-ctl-map")
            return try EmbeddedShardMapStore(client: configuration, clusterID: clusterID)
        }
        guard shardMap.hasPrefix("etcd://") else { throw ValidationError("--shard-map must be embedded or etcd://host:port,...; got \"\(shardMap)\"") }
        return try EtcdShardMapStore(url: shardMap, clusterID: clusterID, attemptTimeout: .seconds(2))
    }
}

extension CtlOptions {
    /// Shard commands, replica admin calls and map updates need the admin right: with the cluster's
    /// token key at hand (ALMANAC_TOKEN_KEY; `almanac dev` prints it) and no token given, these
    /// options with a short-lived admin token signed for this run.
    func withAdminToken(subject: String) async throws -> CtlOptions {
        var options = self
        if let keyFile = ProcessInfo.processInfo.environment["ALMANAC_TOKEN_KEY"], options.security.token == nil {
            let authority = try await TokenAuthority.load(keyFile: keyFile)
            options.security.token = try await authority.issue(
                AccessGrant(subject: subject, read: [], write: [], admin: true, expires: Date().addingTimeInterval(3600)))
        }
        return options
    }
}

/// Runs the hand-off driver with the ctl's client and the map store, printing progress.
enum CtlHandoff {
    /// What a hand-off command works with: the hand-off driver, the map as loaded, and the shard
    /// creation driver with the cluster's members (a split without `--into` creates its target).
    struct Context: Sendable {
        var driver: SegmentHandoffDriver
        var map: ShardMap
        var creation: ShardCreationDriver
        var members: [NodeID: ZoneName]
    }

    static func run(_ options: CtlOptions, _ mapOptions: CtlMapStoreOptions, command: String,
                    _ body: @escaping @Sendable (Context) async throws -> [HandoffReport]) async throws {
        let options = try await options.withAdminToken(subject: "ctl-reshard")
        let store = try mapOptions.store(options)
        defer { Task { await store.shutdown() } }
        try await CtlRunner.run(options, command: command) { client, output throws(CtlFailure) in
            var driver = SegmentHandoffDriver(
                transport: ClientTransactionTransport(client: client, host: nil), store: store,
                clock: { UInt64(Date().timeIntervalSince1970 * 1000) })
            driver.pageBudgetBytes = mapOptions.pageBytes
            driver.stepPause = .milliseconds(mapOptions.stepPauseMilliseconds)
            let json = output.json
            driver.onProgress = { progress in
                guard !json else { return }
                // Unbuffered: progress lines go out as they happen, also into a pipe.
                FileHandle.standardOutput.write(Data(("hand-off \(progress.id): \(progress.phase)  records \(progress.records)  entries \(progress.entries)  "
                    + "copied \(progress.bytes) bytes in \(progress.pages) pages\n").utf8))
            }
            let map: ShardMap
            do {
                guard let loaded = try await store.load() else {
                    throw ShardMapStoreError.unavailable("no map stored under cluster id \"\(mapOptions.clusterID)\" (pass the cluster's --cluster-id)")
                }
                map = loaded.map
            } catch {
                throw CtlFailure(error: AlmanacClientError(.unavailable, "shard map store (\(store.backendName)): \(error)"), path: nil)
            }
            let nodeConfiguration: AlmanacClientConfiguration
            do {
                nodeConfiguration = try options.clientConfiguration(
                    endpoints: try options.endpointList(), attemptTimeout: .seconds(3), operationTimeout: .seconds(10), clientName: "almanac-ctl-reshard")
            } catch {
                throw CtlFailure(error: AlmanacClientError(.invalidArgument, "\(error)"), path: nil)
            }
            let cluster = try await CtlMigration.cluster(client, probe: nodeConfiguration)
            var creation = ShardCreationDriver(
                transport: ClientReplicaAdminTransport(client: client, addresses: cluster.addresses, nodeConfiguration: nodeConfiguration), store: store)
            creation.stepPause = .milliseconds(mapOptions.stepPauseMilliseconds)
            creation.onProgress = { line in
                guard !json else { return }
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
            let started = ContinuousClock.now
            let reports: [HandoffReport]
            do {
                reports = try await body(Context(driver: driver, map: map, creation: creation, members: cluster.members))
            } catch let error as ShardCreationError {
                switch error {
                case .invalid(let message): throw CtlFailure(error: AlmanacClientError(.invalidArgument, code: .einval, message), path: nil)
                case .interrupted: throw CtlFailure(error: AlmanacClientError(.unavailable, error.description), path: nil)
                }
            } catch {
                guard let error = error as? HandoffError else {
                    throw CtlFailure(error: AlmanacClientError(.unavailable, "\(error)"), path: nil)
                }
                switch error {
                case .invalid(let message): throw CtlFailure(error: AlmanacClientError(.invalidArgument, code: .einval, message), path: nil)
                case .rolledBack: throw CtlFailure(error: AlmanacClientError(.operation, code: .conflict, error.description), path: nil)
                case .interrupted: throw CtlFailure(error: AlmanacClientError(.unavailable, error.description), path: nil)
                }
            }
            let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds)
            if json {
                output.emit(reports.map { Report(id: $0.intent.id, outcome: $0.outcome.rawValue, source: $0.intent.source, target: $0.intent.target,
                                                 segments: $0.intent.segments, records: $0.progress.records, entries: $0.progress.entries,
                                                 bytes: $0.progress.bytes, mapEpoch: $0.mapEpoch, seconds: seconds) })
                return
            }
            if reports.isEmpty { output.line("no hand-off in progress") }
            for report in reports {
                output.line("hand-off \(report.intent.id): \(report.intent.segments.count) segments from shard \(report.intent.source) to shard \(report.intent.target): "
                    + "\(report.outcome.rawValue); map epoch \(report.mapEpoch); \(report.progress.records) records, \(report.progress.bytes) bytes in "
                    + String(format: "%.2f s", seconds))
            }
        }
    }

    struct Report: Encodable {
        var id: UInt64
        var outcome: String
        var source: ShardID
        var target: ShardID
        var segments: [SegmentID]
        var records: UInt64
        var entries: UInt64
        var bytes: UInt64
        var mapEpoch: UInt64
        var seconds: Double
    }

    /// "3", "10-20", "1,4-6" -> segments.
    static func parseSegments(_ text: String) throws -> [SegmentID] {
        var segments: [SegmentID] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = SegmentID(bounds[0]), let high = SegmentID(bounds.last ?? ""), low <= high else {
                throw ValidationError("bad segment list \"\(text)\": use 3, 10-20 or 1,4-6")
            }
            segments.append(contentsOf: low...high)
        }
        guard !segments.isEmpty else { throw ValidationError("name at least one segment") }
        return segments
    }
}

/// `almanac ctl reshard move --segments 10-20 --to 2`: hands segments to another shard.
struct CtlReshardMove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move", abstract: "Move segments (all of one shard's) to another shard by the hand-off protocol (docs/migration.md).")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Option(help: "Segments to move: 3, 10-20 or 1,4-6.") var segments: String
    @Option(help: "The shard that takes them.") var to: UInt16

    func run() async throws {
        let segments = try CtlHandoff.parseSegments(segments)
        let target = to
        try await CtlHandoff.run(options, mapOptions, command: "reshard move") { context in
            [try await context.driver.move(segments: segments, to: target)]
        }
    }
}

/// `almanac ctl reshard merge 3 --into 1`: every segment of shard 3 moves to shard 1.
struct CtlReshardMerge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge a shard into another: every segment of SHARD moves to --into (the emptied group stays, owning nothing).")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "The shard to empty.") var shard: UInt16
    @Option(help: "The shard that takes its segments.") var into: UInt16

    func run() async throws {
        let (source, target) = (shard, into)
        try await CtlHandoff.run(options, mapOptions, command: "reshard merge") { context in
            let (driver, map) = (context.driver, context.map)
            let segments = map.segments(of: source)
            guard map.shards[source] != nil, !segments.isEmpty else { throw HandoffError.invalid("shard \(source) owns no segments") }
            return [try await driver.move(segments: segments, to: target)]
        }
    }
}

/// `almanac ctl reshard split 0 --into 3 [--at 512]`: the upper part of shard 0's segments moves to
/// shard 3, which must own none (groups are started with the cluster; a merge empties one).
struct CtlReshardSplit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split",
        abstract: "Split a shard: its segments from --at up (default: the upper half) move to --into, a shard that owns no segments, or to a new shard (a new Raft group) without --into.")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "The shard to split.") var shard: UInt16
    @Option(help: "An empty shard that takes the upper part (default: an empty shard if the map has one, else a new shard).") var into: UInt16?
    @Option(help: "First segment of the upper part (must be one of the shard's, not its first).") var at: UInt16?

    func run() async throws {
        let (source, into, at) = (shard, into, at)
        try await CtlHandoff.run(options, mapOptions, command: "reshard split") { context in
            let (driver, map) = (context.driver, context.map)
            let owned = map.segments(of: source)
            guard owned.count >= 2 else { throw HandoffError.invalid("shard \(source) owns \(owned.count) segments; a split needs two or more") }
            let target: ShardID
            if let into {
                target = into
            } else {
                target = try await context.creation.splitTarget(members: context.members)
            }
            guard map.shards[target] != nil || into == nil else { throw HandoffError.invalid("shard \(target) does not exist") }
            guard map.segments(of: target).isEmpty else {
                throw HandoffError.invalid("shard \(target) owns segments; split into an empty shard (merge moves segments into a busy one)")
            }
            let cut = at ?? owned[owned.count / 2]
            guard let index = owned.firstIndex(of: cut), index > 0 else {
                throw HandoffError.invalid("segment \(cut) is not one of shard \(source)'s segments after its first (\(owned.first ?? 0)...\(owned.last ?? 0))")
            }
            return [try await driver.move(segments: Array(owned[index...]), to: target)]
        }
    }
}

/// `almanac ctl reshard resume`: finishes or rolls back hand-offs left by a driver that died.
struct CtlReshardResume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Finish (committed) or roll back (preparing) every hand-off whose intent is still in the map.")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions

    func run() async throws {
        try await CtlHandoff.run(options, mapOptions, command: "reshard resume") { context in
            let reports = try await context.driver.resume()
            // Shards a creation left in the map without a leader: found them now.
            let owning = Set(context.map.owners)
            for shard in context.map.shards.keys.sorted() where !owning.contains(shard) {
                try await context.creation.ensureFounded(shard)
            }
            return reports
        }
    }
}
