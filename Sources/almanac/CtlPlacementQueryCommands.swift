import AlmanacClient
import AlmanacControl
import AlmanacController
import AlmanacKeyspace
import AlmanacShardMap
import ArgumentParser
import Foundation

/// What `ctl predict` and `ctl plan` share: the path's segment and shard, the cluster's load, the
/// map and the controller's settings (from its lease; the defaults when no controller ran yet).
enum CtlPlacementQuery {
    /// Runs `body` with the path's inputs and the clock's now; an error of the replay becomes a
    /// ctl failure on the path.
    static func run(_ options: CtlOptions, _ mapOptions: CtlMapStoreOptions, path: String, command: String,
                    _ body: @escaping @Sendable (Inputs, Double, CtlOutput) throws -> Void) async throws {
        let store = try CtlControl.store(options, mapOptions)
        defer { Task { await store.shutdown() } }
        try await CtlRunner.run(options, command: command) { client, output throws(CtlFailure) in
            let inputs = try await inputs(client, path: path, options: options, store: store)
            do {
                try body(inputs, Date().timeIntervalSince1970, output)
            } catch let failure as CtlFailure {
                throw failure
            } catch {
                throw CtlFailure(error: AlmanacClientError(.invalidArgument, code: .einval, "\(error)"), path: path)
            }
        }
    }

    struct Inputs {
        var segment: SegmentID
        var shard: ShardID
        var view: ClusterLoadView
        var map: ShardMap
        var settings: ControllerSettings
    }

    static func inputs(_ client: AlmanacClient, path: String, options: CtlOptions, store: any ShardMapStore & ControlRecordStore) async throws(CtlFailure) -> Inputs {
        let attributes: FileAttributes
        do throws(AlmanacClientError) { attributes = try await client.resolve(path) } catch { throw CtlFailure(error: error, path: path) }
        let segment = InodeID(attributes.inode).segment
        do {
            guard let map = try await store.load()?.map else { throw ShardMapStoreError.unavailable("no map stored under this cluster id") }
            guard let shard = map.shard(ofSegment: segment) else {
                throw CtlFailure(error: AlmanacClientError(.invalidArgument, code: .einval, "its segment is outside the shard map"), path: path)
            }
            let lease = try await store.loadRecord(.controllerLease).map { try ControllerLease.decode($0.bytes) }
            let reader = ClusterLoadReader(configuration: try options.clientConfiguration(
                endpoints: try options.endpointList(), attemptTimeout: .seconds(3), operationTimeout: .seconds(10), clientName: "almanac-ctl-placement"))
            let view: ClusterLoadView
            do {
                view = try await reader.read()
                await reader.shutdown()
            } catch {
                await reader.shutdown()
                throw error
            }
            return Inputs(segment: segment, shard: shard, view: view, map: map, settings: lease?.settings ?? ControllerSettings())
        } catch let failure as CtlFailure {
            throw failure
        } catch {
            throw CtlFailure(error: AlmanacClientError(.unavailable, "\(error)"), path: path)
        }
    }
}

/// `almanac ctl predict PATH`: the seed's `predict_access_pattern(key)`.
struct CtlPredict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Forecast requests to a path's segment, per zone and bucket ahead (predict_access_pattern; docs/controller.md).")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "Absolute path.") var path: String

    func run() async throws {
        let path = self.path
        try await CtlPlacementQuery.run(options, mapOptions, path: path, command: "predict") { inputs, now, output in
            let forecast = try ControllerQueries.predictAccessPattern(
                segment: inputs.segment, view: inputs.view, map: inputs.map, settings: inputs.settings, now: now)
            guard let forecast else {
                let needed = inputs.settings.seasonBuckets + 1
                throw CtlFailure(error: AlmanacClientError(.unavailable, "not enough history to forecast segment \(inputs.segment): "
                    + "the forecasters need \(needed) complete buckets of \(Int(inputs.view.bucketSeconds ?? inputs.settings.bucketSeconds)) s with requests"), path: path)
            }
            if output.json { output.emit(forecast); return }
            output.line("segment \(forecast.segment) (shard \(inputs.shard)): forecast requests per \(Int(forecast.bucketSeconds)) s bucket, per zone")
            output.line("  bucket  " + forecast.zones.map { $0.padding(toLength: 22, withPad: " ", startingAt: 0) }.joined())
            for step in forecast.requests.indices {
                let cells = forecast.zones.indices.map { zone in
                    String(format: "%.0f [%.0f-%.0f]", forecast.requests[step][zone], forecast.lower[step][zone], forecast.upper[step][zone])
                        .padding(toLength: 22, withPad: " ", startingAt: 0)
                }
                output.line(String(format: "  +%-5d ", step + 1) + cells.joined())
            }
        }
    }
}

/// `almanac ctl plan PATH`: the seed's `plan_migration(key)`, a dry run.
struct CtlPlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "What the controller's policy would move for a path's shard now, why, and at what predicted gain and cost (plan_migration, a dry run).")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "Absolute path.") var path: String

    func run() async throws {
        try await CtlPlacementQuery.run(options, mapOptions, path: path, command: "plan") { inputs, now, output in
            let preview = try ControllerQueries.planMigration(
                shard: inputs.shard, view: inputs.view, map: inputs.map, settings: inputs.settings, now: now)
            if output.json { output.emit(preview); return }
            let record = inputs.map.shards[inputs.shard]
            output.line("shard \(inputs.shard): leader node \(record?.leaderHint ?? 0), replicas "
                + (record?.replicas.map { "node \($0.node) (\($0.zone))" }.joined(separator: ", ") ?? "-"))
            output.line("policy \(preview.policy), \(preview.bucketsReplayed) buckets of load replayed (dry run: nothing changes)")
            if preview.decisions.isEmpty {
                output.line("plan: no move now (the current placement is within the policy's thresholds)")
            } else {
                for decision in preview.decisions { output.line("plan: " + CtlControl.describe(decision)) }
            }
            for decision in preview.earlier.suffix(5) { output.line("  earlier in the replay: " + CtlControl.describe(decision)) }
        }
    }
}
