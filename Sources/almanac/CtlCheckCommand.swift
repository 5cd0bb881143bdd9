import AlmanacClient
import AlmanacControl
import AlmanacKeyspace
import AlmanacWire
import ArgumentParser
import Foundation

/// `almanac ctl check`: the shard map, every group's Raft configuration and every replica's state
/// digest agree (``ConsistencyCheck``). Asks every node for its own view; replicas at different
/// applied indexes are compared again after a pause (a quiet cluster converges in milliseconds).
/// Exit status 0: clean; 1: a disagreement (printed with its location); 2: still inconclusive.
struct CtlCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check that the shard map, the Raft configurations and the replicas' state digests agree.")
    @OptionGroup var options: CtlOptions
    @Option(help: "Rounds to wait for replicas at different applied indexes to line up.")
    var attempts: Int = 10

    func run() async throws {
        var outcome: Int32 = 0
        try await CtlRunner.run(options, command: "check") { client, output throws(CtlFailure) in
            var findings: [ConsistencyFinding] = []
            var checked = (shards: 0, replicas: 0)
            for attempt in 1...max(1, attempts) {
                let wire = try await onPath(nil) { () async throws(AlmanacClientError) in try await client.shardMapMessage() }
                let map: ShardMap
                do { map = try ShardMap(wire: wire) } catch {
                    throw CtlFailure(error: AlmanacClientError(.protocolViolation, "the cluster's shard map is invalid: \(error)"), path: nil)
                }
                let status = try await onPath(nil) { () async throws(AlmanacClientError) in try await client.status() }
                let statuses = await CtlShards.nodeStatuses(nodes: status.nodes, options: options, stateDigests: true)
                let members = Dictionary(status.nodes.map { ($0.nodeID, $0.zone) }, uniquingKeysWith: { first, _ in first })
                let reports = statuses.flatMap(Self.reports)
                findings = ConsistencyCheck.evaluate(map: map, members: members, answered: Set(statuses.map(\.responderNodeID)), replicas: reports)
                checked = (map.shards.count, reports.count)
                let waiting = findings.contains { $0.severity == .inconclusive && $0.message.contains("different applied indexes") }
                if !waiting || findings.contains(where: { $0.severity == .error }) || attempt == attempts { break }
                try? await Task.sleep(for: .milliseconds(500))
            }
            if output.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                output.line((try? encoder.encode(findings)).map { String(decoding: $0, as: UTF8.self) } ?? "[]")
            } else if findings.isEmpty {
                output.line("check: clean: the map, the Raft configurations and the state digests of \(checked.shards) shards "
                    + "(\(checked.replicas) replicas, the system group included) agree")
            } else {
                for finding in findings { output.line(finding.description) }
            }
            outcome = findings.contains { $0.severity == .error } ? 1 : (findings.isEmpty ? 0 : 2)
        }
        if outcome != 0 { throw ExitCode(outcome) }
    }

    /// One node's replicas as the checker sees them.
    static func reports(_ status: Almanac_Api_V1_ClusterStatus) -> [ReplicaReport] {
        func report(_ shard: Almanac_Api_V1_ShardStatus, id: ShardID?) -> ReplicaReport {
            ReplicaReport(node: status.responderNodeID, shard: id,
                          voters: shard.replicas.filter { $0.role != .learner }.map(\.nodeID),
                          learners: shard.replicas.filter { $0.role == .learner }.map(\.nodeID),
                          appliedIndex: shard.appliedIndex, digest: shard.stateDigest,
                          owned: shard.ownershipKnown ? shard.ownedSegments.flatMap { run -> [SegmentID] in
                              guard run.first <= run.last, run.last <= UInt32(SegmentID.max) else { return [] }
                              return (run.first...run.last).map { SegmentID($0) }
                          } : nil)
        }
        var reports = status.shards.compactMap { shard in ShardID(exactly: shard.shardID).map { report(shard, id: $0) } }
        if status.hasSystemGroup { reports.append(report(status.systemGroup, id: nil)) }
        return reports
    }
}
