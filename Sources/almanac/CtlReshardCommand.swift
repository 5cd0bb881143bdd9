import AlmanacClient
import AlmanacControl
import AlmanacController
import AlmanacKeyspace
import struct AlmanacPlacement.ReshardingConfig
import AlmanacWire
import ArgumentParser
import Foundation

/// `almanac ctl reshard`: resharding by hand.
struct CtlReshard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reshard", abstract: "Split and merge decisions for the live cluster, and segment hand-offs by hand.",
        subcommands: [CtlReshardPlan.self, CtlReshardMove.self, CtlReshardSplit.self, CtlReshardMerge.self, CtlReshardResume.self])
}

/// `almanac ctl reshard plan`: the seed's `trigger_resharding()`. Adds up every node's access series
/// per segment, runs the load-based split/merge decider (LSMM) on the live map and prints what it
/// would split or merge and why. It changes nothing.
struct CtlReshardPlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "trigger_resharding(): evaluate split and merge on the live loads and report the decision (changes nothing).")
    @OptionGroup var options: CtlOptions
    @Option(help: "A segment is hot above this many requests per second (bucket mean).")
    var splitThreshold: Double = 500
    @Option(help: "Consecutive hot buckets before a hot segment gets a shard of its own.")
    var hotBuckets: Int = 3
    @Option(help: "Neighbouring shards merge below this fraction of the split threshold (0 < f < 1).")
    var mergeFactor: Double = 0.5
    @Option(help: "Consecutive cold buckets before two neighbours merge.")
    var coldBuckets: Int = 8

    func run() async throws {
        let config: ReshardingConfig
        do {
            config = try ReshardingConfig(splitThresholdOpsPerSec: splitThreshold, consecutiveHotBuckets: hotBuckets,
                                          mergeFactor: mergeFactor, mergeColdBuckets: coldBuckets, cooldownSeconds: 0)
        } catch {
            throw ValidationError("\(error)")
        }
        try await CtlRunner.run(options, command: "reshard plan") { client, output throws(CtlFailure) in
            let wire = try await onPath(nil) { () async throws(AlmanacClientError) in try await client.shardMapMessage() }
            let map: ShardMap
            do { map = try ShardMap(wire: wire) } catch { throw CtlFailure(error: AlmanacClientError(.invalidArgument, "the cluster's shard map is invalid: \(error)"), path: nil) }
            let status = try await onPath(nil) { () async throws(AlmanacClientError) in try await client.status() }
            let statuses = await CtlShards.nodeStatuses(nodes: status.nodes, options: options)
            let bucketSeconds = Double(statuses.map(\.accessBucketSeconds).max() ?? 60)
            let report: ReshardingReport
            do {
                report = try ReshardingAdvisor.evaluate(map: map, series: ClusterLoadView.segmentSeries(statuses), bucketSeconds: max(1, bucketSeconds), config: config)
            } catch {
                throw CtlFailure(error: AlmanacClientError(.invalidArgument, "trigger_resharding: \(error)"), path: nil)
            }
            if output.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                output.line((try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}")
                return
            }
            output.line("trigger_resharding: \(report.evaluatedBuckets) complete buckets of \(Int(report.bucketSeconds)) s from \(statuses.count) nodes; "
                + "split above \(report.splitThresholdOpsPerSec) ops/s for \(report.consecutiveHotBuckets) buckets, "
                + "merge below \(report.mergeBelowOpsPerSec) ops/s for \(report.mergeColdBuckets) buckets")
            for segment in report.hottest {
                output.line("  hot: segment \(segment.segment) (shard \(segment.shard)) mean \(String(format: "%.3g", segment.meanOpsPerSec)) ops/s, "
                    + "last bucket \(String(format: "%.3g", segment.lastOpsPerSec)) ops/s")
            }
            if report.decisions.isEmpty { output.line("decision: no split or merge") }
            for decision in report.decisions {
                switch decision.kind {
                case .split: output.line("decision: split shard \(decision.shard) at segment \(decision.segment): \(decision.reason)")
                case .merge: output.line("decision: merge shard \(decision.otherShard.map(String.init) ?? "?") (from segment \(decision.segment)) into shard \(decision.shard): \(decision.reason)")
                }
            }
        }
    }
}
