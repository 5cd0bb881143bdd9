import AlmanacClient
import AlmanacControl
import AlmanacController
import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacShardMap
import AlmanacTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The placement controller on six real `almanac serve` processes (two per zone), with two-second
/// access buckets and the reactive policy:
///   1. one node holds the controller's lease;
///   2. a migration is left in flight by a SIGKILLed `ctl migrate`, then the controller's node is
///      SIGKILLed: another node takes the lease (next term) within seconds and finishes the
///      migration from the map (the intent is gone, the audit says so);
///   3. clients that say they run in zone-c load one directory: in shadow mode the controller audits
///      its decision and changes nothing; made active, it moves the leadership of that directory's
///      shard to a zone-c node, and audits it as applied;
///   4. every acknowledged create is present (names are unique in a directory) and `ctl check` is clean.
@Suite("Placement controller on real processes: failover, resume, acting on measured load", .serialized, .timeLimit(.minutes(5)))
struct ControllerFailoverTests {
    static let clusterID = "it-controller"

    static func lease(_ store: EmbeddedShardMapStore) async -> ControllerLease? {
        guard let record = try? await store.loadRecord(.controllerLease) else { return nil }
        return try? ControllerLease.decode(record.bytes)
    }

    /// Polls the lease until `condition` holds (nil after `seconds`).
    static func waitForLease(_ store: EmbeddedShardMapStore, seconds: Int, _ condition: (ControllerLease) -> Bool) async throws -> ControllerLease? {
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
        while ContinuousClock.now < deadline {
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            if let lease = await lease(store), lease.expiresAtMillis > now, condition(lease) { return lease }
            try await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// `ctl controller mode`: the lease record's mode, by compare-and-swap.
    static func setMode(_ mode: ControllerMode, _ store: EmbeddedShardMapStore) async throws {
        for _ in 0..<20 {
            guard let record = try await store.loadRecord(.controllerLease) else { continue }
            var lease = try ControllerLease.decode(record.bytes)
            lease.mode = mode
            if (try? await store.compareAndSwapRecord(.controllerLease, expectedRevision: record.revision, bytes: lease.encoded())) != nil { return }
        }
        throw ClusterError("the controller's mode could not be set")
    }

    @Test("controller: failover within seconds, resumes a migration left in the map, moves a leadership toward measured load; ctl check clean")
    func controllerFailsOverResumesAndActs() async throws {
        let cluster = try await TestCluster.start(
            name: "controller", shards: 2, nodes: 6,
            extraArguments: ["--access-bucket-seconds", "2", "--controller-policy", "reactive", "--cross-zone-rtt-ms", "20"])
        defer { cluster.shutdown() }
        let admin = cluster.client()
        defer { Task { await admin.shutdown() } }
        _ = try await FailoverTests.waitForLeader(admin)
        let store = try EmbeddedShardMapStore(endpoints: cluster.endpoints, clusterID: Self.clusterID)
        defer { Task { await store.shutdown() } }

        // 1. A holder.
        let first = try #require(try await Self.waitForLease(store, seconds: 30) { _ in true }, "no node took the controller lease\n\(cluster.tail(1))")
        let holderZone = cluster.member(first.holder).zone

        // 2. A migration in a zone away from the holder, its driver killed once the learner is added.
        let map = try await SegmentHandoffKillTests.storedMap(cluster, clusterID: Self.clusterID)
        let zone = try #require(TestCluster.zones.first { $0 != holderZone })
        let source = try #require(map.shards[0]?.replicas.first { $0.zone == zone }?.node)
        let target = try #require(cluster.members.first { $0.zone == zone && $0.id != source }?.id)
        let output = Pipe()
        let reached = Mutex(false)
        let driver = try SegmentHandoffKillTests.ctl(
            cluster, ["migrate", "0", "--to", "\(target)", "--step-pause-ms", "400"], clusterID: Self.clusterID, output: output)
        output.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            guard text.contains(": learner ") else { return }
            if reached.withLock({ let first = !$0; $0 = true; return first }) { Glibc.kill(driver.processIdentifier, SIGKILL) }
        }
        driver.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        #expect(driver.terminationReason == .uncaughtSignal, "the migration driver was not killed at the learner step")
        let left = try await SegmentHandoffKillTests.storedMap(cluster, clusterID: Self.clusterID).migrations
        #expect(left.count == 1, "expected the killed driver's intent in the map: \(left)")

        // The controller's node dies: another takes over within seconds and finishes the migration.
        let killedAt = ContinuousClock.now
        cluster.kill(first.holder)
        let second = try #require(try await Self.waitForLease(store, seconds: 30) { $0.holder != first.holder },
                                  "no other node took the controller lease\n\(cluster.tail(1))")
        let failover = ContinuousClock.now - killedAt
        #expect(second.term == first.term + 1)
        #expect(failover < .seconds(15), "failover took \(failover)")
        // The killed driver's heartbeat keeps its intent off limits for the live window, then the
        // new holder takes it over.
        var resumed = false
        for _ in 0..<(2 * Int(ReplicaMigrationDriver.liveWindow.components.seconds) + 60) {
            if let current = try? await store.load(), current.map.migrations.isEmpty { resumed = true; break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(resumed, "the new controller did not finish the migration left in the map\n\(cluster.tail(1))")
        let audit = try await ControllerAuditLog.load(store)
        #expect(audit.contains { $0.action.hasPrefix("resume migration") && $0.term == second.term }, "audit: \(audit)")
        try await cluster.restart(first.holder)

        // 3. Load from zone-c on one directory. In shadow mode the controller decides and audits but
        //    the map does not change; once active, its shard's leadership moves to a zone-c node.
        var configuration = AlmanacClientConfiguration(endpoints: cluster.endpoints, attemptTimeout: .seconds(3), operationTimeout: .seconds(30))
        configuration.zone = "zone-c"
        let remote = AlmanacClient(configuration: configuration)
        defer { Task { await remote.shutdown() } }
        let directory = try await admin.mkdir(path: "/from-zone-c")
        let location = try #require(try await admin.location(ofInode: directory.inode))
        let zoneC = Set(cluster.members.filter { $0.zone == "zone-c" }.map(\.id))
        var created: [String] = []
        try await Self.setMode(.shadow, store)
        // The leader hint follows elections on its own (the restarted node rejoining can move it), so
        // "changed nothing" is judged on what only the controller changes: the shard's replicas, and
        // no decision of any mode but shadow applied while shadow mode holds.
        // The holder learns the mode when it next renews its lease (every two seconds); a pass it
        // began before that stamps its decisions with its start, before `shadowFrom`.
        let modeSetAt = try await store.loadRecord(.controllerLease)?.revision ?? 0
        for _ in 0..<50 where ((try? await store.loadRecord(.controllerLease))?.revision ?? 0) == modeSetAt {
            try await Task.sleep(for: .milliseconds(200))
        }
        let shadowFrom = Date().timeIntervalSince1970
        let replicasBefore = try await SegmentHandoffKillTests.storedMap(cluster, clusterID: Self.clusterID).shards[location.shard]?.replicas
        var shadowed: ControllerDecision?
        var index = 0
        let shadowDeadline = ContinuousClock.now.advanced(by: .seconds(60))
        while shadowed == nil && ContinuousClock.now < shadowDeadline {
            for _ in 0..<20 {
                let name = "/from-zone-c/s\(index)"
                index += 1
                if (try? await remote.create(path: name)) != nil { created.append(name) }
            }
            shadowed = try await ControllerAuditLog.load(store).first { $0.shard == location.shard && $0.mode == .shadow }
        }
        #expect(shadowed?.outcome.hasPrefix("shadow") == true, "no shadow decision for shard \(location.shard): \(String(describing: shadowed))")
        let replicasInShadow = try await SegmentHandoffKillTests.storedMap(cluster, clusterID: Self.clusterID).shards[location.shard]?.replicas
        #expect(replicasInShadow == replicasBefore, "the shard's replicas changed in shadow mode")
        let appliedInShadow = try await ControllerAuditLog.load(store).filter { $0.time >= shadowFrom && $0.outcome.hasPrefix("applied") }
        #expect(appliedInShadow.isEmpty, "the controller acted in shadow mode: \(appliedInShadow)")
        try await Self.setMode(.active, store)
        var moved: ControllerDecision?
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while moved == nil && ContinuousClock.now < deadline {
            for _ in 0..<20 {
                let name = "/from-zone-c/f\(index)"
                index += 1
                if (try? await remote.create(path: name)) != nil { created.append(name) }
            }
            moved = try await ControllerAuditLog.load(store).first {
                $0.shard == location.shard && $0.action == "transfer leadership" && zoneC.contains($0.toLeader ?? 0) && $0.outcome.hasPrefix("applied")
                    && $0.mode == .active
            }
        }
        let decisions = (try? await ControllerAuditLog.load(store)) ?? []
        #expect(moved != nil, "the controller never moved shard \(location.shard)'s leadership to zone-c: \(decisions)")
        if let moved {
            let now = try await SegmentHandoffKillTests.storedMap(cluster, clusterID: Self.clusterID)
            #expect(zoneC.contains(now.shards[location.shard]?.leaderHint ?? 0), "map: \(now.shards[location.shard].map { "\($0)" } ?? "-") after \(moved)")
        }

        // 4. Nothing acknowledged lost; the map, configurations and replicas agree.
        var missing: [String] = []
        for name in created where (try? await admin.resolve(name)) == nil { missing.append(name) }
        #expect(missing.isEmpty, "acknowledged creates missing: \(missing)")
        let (clean, lastCheck) = try await SegmentHandoffKillTests.checkUntilClean(cluster)
        #expect(clean, "ctl check never came back clean:\n\(lastCheck)")
        print("controller test: failover in \(failover), term \(first.term) -> \(second.term), \(created.count) creates from zone-c, "
            + "leadership of shard \(location.shard) moved: \(moved.map { "\($0.fromLeader ?? 0) -> \($0.toLeader ?? 0)" } ?? "no")")
    }
}
