import AlmanacClient
import AlmanacControl
import AlmanacWire
import ArgumentParser
import Foundation

/// `almanac ctl predict PATH`: the seed's `predict_access_pattern(key)`, a placement call answered
/// by a node (docs/controller.md).
struct CtlPredict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Forecast requests to a path's segment, per zone and bucket ahead (predict_access_pattern; docs/controller.md).")
    @OptionGroup var options: CtlOptions
    @Argument(help: "Absolute path.") var path: String

    func run() async throws {
        let path = self.path
        try await CtlRunner.run(options, command: "predict") { client, output throws(CtlFailure) in
            let attributes = try await onPath(path) { () async throws(AlmanacClientError) in try await client.resolve(path) }
            let forecast = try await onPath(path) { () async throws(AlmanacClientError) in try await client.predictAccessPattern(inode: attributes.inode) }
            if !forecast.noForecast.isEmpty { throw AlmanacClientError(.unavailable, forecast.noForecast).at(path) }
            if output.json {
                struct Forecast: Encodable {
                    var segment: UInt32, shard: UInt32, zones: [String], bucketSeconds: Double, startTime: Double, writeFraction: Double
                    var requests: [[Double]], lower: [[Double]], upper: [[Double]]
                }
                output.emit(Forecast(segment: forecast.segment, shard: forecast.shardID, zones: forecast.zones, bucketSeconds: forecast.bucketSeconds,
                                     startTime: forecast.startTime, writeFraction: forecast.writeFraction, requests: forecast.steps.map(\.requests),
                                     lower: forecast.steps.map(\.lower), upper: forecast.steps.map(\.upper)))
                return
            }
            output.line("segment \(forecast.segment) (shard \(forecast.shardID)): forecast requests per \(Int(forecast.bucketSeconds)) s bucket, per zone")
            output.line("  bucket  " + forecast.zones.map { $0.padding(toLength: 22, withPad: " ", startingAt: 0) }.joined())
            for (step, values) in forecast.steps.enumerated() {
                let cells = values.requests.indices.map { zone in
                    String(format: "%.0f [%.0f-%.0f]", values.requests[zone],
                           values.lower.indices.contains(zone) ? values.lower[zone] : values.requests[zone],
                           values.upper.indices.contains(zone) ? values.upper[zone] : values.requests[zone])
                        .padding(toLength: 22, withPad: " ", startingAt: 0)
                }
                output.line(String(format: "  +%-5d ", step + 1) + cells.joined())
            }
        }
    }
}

/// `almanac ctl plan PATH`: the seed's `plan_migration(key)`, a dry run answered by a node.
struct CtlPlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "What the controller's policy would move for a path's shard now, why, and at what predicted gain and cost (plan_migration, a dry run).")
    @OptionGroup var options: CtlOptions
    @Argument(help: "Absolute path.") var path: String

    func run() async throws {
        let path = self.path
        try await CtlRunner.run(options, command: "plan") { client, output throws(CtlFailure) in
            let attributes = try await onPath(path) { () async throws(AlmanacClientError) in try await client.resolve(path) }
            let plan = try await onPath(path) { () async throws(AlmanacClientError) in try await client.planMigration(inode: attributes.inode) }
            let location = try await onPath(path) { () async throws(AlmanacClientError) in try await client.shardLocation(inode: attributes.inode) }
            let decisions = plan.decisions.map(Self.decision)
            let earlier = plan.earlier.map(Self.decision)
            if output.json {
                struct Plan: Encodable {
                    var shard: UInt32, policy: String, bucketsReplayed: UInt32, decisions: [ControllerDecision], earlier: [ControllerDecision]
                }
                output.emit(Plan(shard: plan.shardID, policy: plan.policy, bucketsReplayed: plan.bucketsReplayed, decisions: decisions, earlier: earlier))
                return
            }
            output.line("shard \(plan.shardID): leader node \(location.shard.leaderHint), replicas "
                + location.shard.replicas.map { "node \($0.nodeID) (\($0.zone))" }.joined(separator: ", ")
                + (location.moving ? " (a migration or hand-off is in flight)" : ""))
            output.line("policy \(plan.policy), \(plan.bucketsReplayed) buckets of load replayed (dry run: nothing changes)")
            if decisions.isEmpty {
                output.line("plan: no move now (the current placement is within the policy's thresholds)")
            } else {
                for decision in decisions { output.line("plan: " + CtlControl.describe(decision)) }
            }
            for decision in earlier.suffix(5) { output.line("  earlier in the replay: " + CtlControl.describe(decision)) }
        }
    }

    /// A planned decision as the audit shows one (never applied: outcome "planned").
    static func decision(_ wire: Almanac_Api_V1_PlacementDecision) -> ControllerDecision {
        ControllerDecision(
            id: 0, time: wire.time, term: 0, policy: wire.policy, mode: .shadow, action: wire.action, shard: UInt16(truncatingIfNeeded: wire.shardID),
            fromLeader: wire.fromLeaderNodeID == 0 ? nil : wire.fromLeaderNodeID, toLeader: wire.toLeaderNodeID == 0 ? nil : wire.toLeaderNodeID,
            fromNodes: wire.fromNodeIds, toNodes: wire.toNodeIds,
            forecastRequests: wire.hasForecastRequests ? wire.forecastRequests : nil,
            predictedGainOpMs: wire.hasPredictedGainOpMs ? wire.predictedGainOpMs : nil, costOpMs: wire.hasCostOpMs ? wire.costOpMs : nil,
            confidence: wire.hasConfidence ? wire.confidence : nil, outcome: "planned", reason: wire.reason)
    }
}
