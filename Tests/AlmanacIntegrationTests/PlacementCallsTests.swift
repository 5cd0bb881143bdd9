import AlmanacClient
import AlmanacTestSupport
import AlmanacWire
import Foundation
import Testing

/// The seed's placement API as client-protocol calls on six real `almanac serve` processes (two per
/// zone, controller off so that nothing else moves): get_shard_location, plan_migration,
/// predict_access_pattern (once the nodes hold enough one-second buckets), trigger_resharding (dry
/// run) and execute_migration (a refused plan changes nothing; a real one moves a replica, and the
/// map, the location call and `ctl check` agree afterwards).
@Suite("Placement calls over the client protocol (real processes)", .serialized, .timeLimit(.minutes(4)))
struct PlacementCallsTests {
    @Test("predict, plan, locate, trigger and execute as protocol calls; a bad call is a typed error; ctl check clean")
    func placementCallsAnswerOnTheRunningCluster() async throws {
        let cluster = try await TestCluster.start(
            name: "placement-calls", shards: 2, nodes: 6,
            extraArguments: ["--access-bucket-seconds", "1", "--season-buckets", "2", "--controller-mode", "off"])
        defer { cluster.shutdown() }
        let client = cluster.client()
        defer { Task { await client.shutdown() } }
        _ = try await FailoverTests.waitForLeader(client)
        let directory = try await client.mkdir(path: "/calls")

        // get_shard_location agrees with the client's own map.
        let located = try await client.shardLocation(inode: directory.inode)
        let local = try #require(try await client.location(ofInode: directory.inode))
        #expect(located.segment == UInt32(local.segment))
        #expect(located.shard.shardID == UInt32(local.shard))
        #expect(Set(located.shard.replicas.map(\.nodeID)) == Set(local.replicas.map(\.node)))
        #expect(located.shard.replicas.allSatisfy { !$0.clientAddress.isEmpty })
        #expect(!located.moving)
        #expect(located.shard.replicas.contains { $0.nodeID == located.shard.leaderHint }, "no live leader in \(located)")
        // Right after the first requests there is no forecast yet: an answer that says why.
        let early = try await client.predictAccessPattern(inode: directory.inode)
        #expect(early.steps.isEmpty && early.noForecast.contains("not enough history"), "\(early)")

        // Steady load on the directory for a few one-second buckets, then until predict_access_pattern
        // has a season (two buckets) and a bucket of history.
        var created: [String] = []
        func load(_ count: Int) async {
            for _ in 0..<count {
                let name = "/calls/f\(created.count)"
                if (try? await client.create(path: name)) != nil { created.append(name) }
            }
        }
        let loaded = ContinuousClock.now.advanced(by: .seconds(5))
        while ContinuousClock.now < loaded { await load(10) }
        var forecast: Almanac_Api_V1_AccessPatternForecast?
        var lastError = ""
        let deadline = ContinuousClock.now.advanced(by: .seconds(40))
        while forecast == nil && ContinuousClock.now < deadline {
            await load(10)
            let answer = try await client.predictAccessPattern(inode: directory.inode)
            if answer.noForecast.isEmpty {
                forecast = answer
            } else {
                #expect(answer.steps.isEmpty && answer.noForecast.contains("not enough history"), "\(answer)")
                lastError = answer.noForecast
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        let prediction = try #require(forecast, "no forecast within 40 s: \(lastError)")
        #expect(prediction.segment == located.segment && prediction.shardID == located.shard.shardID)
        #expect(Set(prediction.zones) == Set(TestCluster.zones))
        #expect(!prediction.steps.isEmpty && prediction.steps.allSatisfy { $0.requests.count == prediction.zones.count })
        #expect(prediction.steps.contains { $0.requests.reduce(0, +) > 0 }, "the forecast of a loaded segment is all zero: \(prediction)")

        // plan_migration: a dry run of the lease holder's (here: the node's) policy on this shard.
        let plan = try await client.planMigration(inode: directory.inode)
        #expect(plan.shardID == located.shard.shardID)
        #expect(plan.policy == "predictive")
        #expect(plan.bucketsReplayed > 0)

        // trigger_resharding, dry run: evaluated on the live series, nothing moves.
        let resharding = try await client.triggerResharding(dryRun: true)
        #expect(resharding.evaluatedBuckets > 0)
        #expect(resharding.executed.isEmpty)

        // Bad calls: typed errors, nothing changed.
        await #expect(throws: AlmanacClientError.self) { try await client.predictAccessPattern(inode: 0) }
        do throws(AlmanacClientError) {
            _ = try await client.shardLocation(inode: 0)
            Issue.record("inode 0 was located")
        } catch {
            #expect(error.code == .einval, "\(error)")
        }
        var refused = Almanac_Api_V1_ExecuteMigrationCall()
        refused.shardID = located.shard.shardID
        refused.targetNodeID = 99
        do throws(AlmanacClientError) {
            _ = try await client.executeMigration(refused)
            Issue.record("a migration to node 99 was accepted")
        } catch {
            #expect(error.code == .einval, "\(error)")
        }
        let untouched = try await client.shardLocation(inode: directory.inode)
        #expect(untouched.shard == located.shard && untouched.mapEpoch == located.mapEpoch, "a refused plan changed the map")

        // execute_migration: the replica in the first replica's zone moves to the other node of that zone.
        let leaving = try #require(located.shard.replicas.first)
        let target = try #require(cluster.members.first { $0.zone == leaving.zone && $0.id != leaving.nodeID })
        var plan2 = Almanac_Api_V1_ExecuteMigrationCall()
        plan2.shardID = located.shard.shardID
        plan2.targetNodeID = target.id
        let outcome = try await client.executeMigration(plan2)
        #expect(outcome.outcome == "moved", "\(outcome)")
        #expect(outcome.sourceNodeID == leaving.nodeID && outcome.targetNodeID == target.id)
        let after = try await client.shardLocation(inode: directory.inode)
        #expect(Set(after.shard.replicas.map(\.nodeID)) == Set(located.shard.replicas.map(\.nodeID)).subtracting([leaving.nodeID]).union([target.id]))
        #expect(after.mapEpoch > located.mapEpoch && !after.moving)

        // Nothing acknowledged lost; the map, configurations and replicas agree.
        for name in created { #expect((try? await client.resolve(name)) != nil, "acknowledged create \(name) missing") }
        let (clean, lastCheck) = try await SegmentHandoffKillTests.checkUntilClean(cluster)
        #expect(clean, "ctl check never came back clean:\n\(lastCheck)")
        print("placement calls test: \(created.count) creates, forecast of \(prediction.steps.count) buckets, "
            + "plan \(plan.decisions.count) decisions over \(plan.bucketsReplayed) buckets, migration \(outcome.outcome) in map epoch \(outcome.mapEpoch)")
    }
}
