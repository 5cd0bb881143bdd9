import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacNode
import AlmanacShardMap
import Synchronization
import Testing

/// Two drivers of one migration (docs/migration.md, "Two drivers"): a running `ctl migrate` and a
/// resume (a new controller term, or `ctl migrate --resume`) on real hosts. Deterministic: the
/// resume runs to its end between two calls of the running driver, at every call boundary of it.
///
/// - A resume that takes the running driver for dead (its heartbeat older than the live window)
///   takes the intent over and finishes or rolls it back; the running driver's next heartbeat is
///   refused, and it stops and withdraws what it added. Without any further resume, the map, the
///   Raft configuration and the hosted replicas agree, with no learner left.
/// - A resume within the live window leaves the intent to the running driver, which moves the replica.
/// - A learner no intent names (its driver superseded, then dead before withdrawing) is removed by
///   the next resume's sweep.
@Suite(.serialized) struct ReplicaMigrationRaceTests {
    let checks = ReplicaMigrationTests()

    @Test("a resume that takes a running driver for dead, between any two of its calls: one outcome, nothing stray")
    func resumeInterleavedAtEveryCall() async throws {
        try await MigrationTestCluster.with { cluster in
            var acknowledged: [[UInt8]] = []
            for i in 0..<40 { _ = try await cluster.propose([5, UInt8(i)]); acknowledged.append([5, UInt8(i)]) }
            // A clean run counts the running driver's calls.
            let counting = InterposingTransport(cluster: cluster)
            _ = try await driver(over: counting).executeMigration(
                ReplicaMigrationPlan(shard: 0, target: checks.otherZoneANode(cluster)), members: cluster.zones)
            let total = counting.calls
            #expect(total > 10)
            var outcomes: [String: Int] = [:]
            var payload: UInt16 = 0
            for boundary in 1..<total {
                let interposing = InterposingTransport(cluster: cluster)
                let resumer = checks.driver(cluster)
                let resumed = Mutex<Result<MigrationResumption, any Error>?>(nil)
                interposing.interpose(before: boundary) {
                    // The resume sees a silent driver: no live window.
                    let result: Result<MigrationResumption, any Error>
                    do { result = .success(try await resumer.resume(liveWindow: nil)) } catch { result = .failure(error) }
                    resumed.withLock { $0 = result }
                }
                var unsettled: String?
                do {
                    let report = try await driver(over: interposing).executeMigration(
                        ReplicaMigrationPlan(shard: 0, target: checks.otherZoneANode(cluster)), members: cluster.zones)
                    outcomes["running: \(report.outcome.rawValue)", default: 0] += 1
                } catch let error as MigrationError {
                    switch error {
                    case .superseded: outcomes["running: superseded", default: 0] += 1
                    case .rolledBack: outcomes["running: rolled back", default: 0] += 1
                    case .interrupted:
                        // An unknown outcome (a call timed out on this loaded machine): legitimate,
                        // and what a further resume is for.
                        unsettled = "the running driver: \(error)"
                    case .invalid:
                        Issue.record("boundary \(boundary): the running driver failed: \(error)")
                    }
                }
                switch resumed.withLock({ $0 }) {
                case .success(let result)?:
                    for report in result.reports { outcomes["resume: \(report.outcome.rawValue)", default: 0] += 1 }
                case .failure(let error)?:
                    unsettled = "the resume: \(error)"
                case nil:
                    outcomes["running ended before the resume", default: 0] += 1
                }
                if let unsettled {
                    // Interrupted, not wrong: settle with the resume an operator would run, and say so.
                    print("boundary \(boundary): interrupted (\(unsettled)); settled by a further resume")
                    outcomes["settled by a further resume", default: 0] += 1
                    _ = try await checks.driver(cluster).resume(liveWindow: nil)
                }
                payload += 1
                let write = [6, UInt8(payload >> 8), UInt8(payload & 0xFF)]
                _ = try await cluster.propose(write)
                acknowledged.append(write)
                // No further resume or sweep (unless one was interrupted): the two drivers alone left
                // everything in agreement.
                try await checks.expectConsistent(cluster, acknowledged: acknowledged, "resume before call \(boundary) of \(total)")
            }
            print("migration race: resume before each of \(total) calls; outcomes \(outcomes.sorted { $0.key < $1.key })")
            #expect(outcomes["running: superseded", default: 0] > 0 && outcomes["resume: rolled back", default: 0] > 0, "\(outcomes)")
            #expect(outcomes["settled by a further resume", default: 0] * 4 < total, "most interleavings end without help: \(outcomes)")
            let violations = MigrationHistory.violations(cluster.history, zones: cluster.zones, zoneCount: 3)
            #expect(violations.isEmpty, "\(violations.prefix(5))")
        }
    }

    @Test("a resume within the live window leaves a running driver's migration to it")
    func resumeLeavesLiveDriver() async throws {
        try await MigrationTestCluster.with { cluster in
            _ = try await cluster.propose([7])
            let interposing = InterposingTransport(cluster: cluster)
            let resumer = checks.driver(cluster)
            let resumed = Mutex<MigrationResumption?>(nil)
            // After the record, the join and the learner: the resume finds the intent alive.
            interposing.interpose(before: 8) {
                let result = try? await resumer.resume(liveWindow: .seconds(30))
                resumed.withLock { $0 = result }
            }
            let report = try await driver(over: interposing).executeMigration(
                ReplicaMigrationPlan(shard: 0, target: checks.otherZoneANode(cluster)), members: cluster.zones)
            #expect(report.outcome == .moved)
            let result = try #require(resumed.withLock { $0 })
            #expect(result.reports.isEmpty && result.stillDriven.count == 1 && result.strays.isEmpty, "\(result)")
            try await checks.expectConsistent(cluster, acknowledged: [[7]], "after the move")
        }
    }

    @Test("a learner no intent names is removed, with its replica, by the next resume's sweep")
    func sweepRemovesStrayLearner() async throws {
        try await MigrationTestCluster.with { cluster in
            _ = try await cluster.propose([8])
            let stray = checks.otherZoneANode(cluster)
            // What a superseded driver that died before withdrawing leaves: a replica and a learner.
            guard case .success = await cluster.replicaAdmin(shard: 0, call: .join, on: stray),
                  case .success = await cluster.replicaAdmin(shard: 0, call: .addLearner(stray), on: nil) else {
                Issue.record("could not place the stray learner")
                return
            }
            #expect(try await cluster.leaderView().learners == [stray])
            let result = try await checks.driver(cluster).resume()
            #expect(result.strays == [StrayLearner(shard: 0, node: stray)], "\(result)")
            try await checks.expectConsistent(cluster, acknowledged: [[8]], "after the sweep")
        }
    }

    /// The running driver: the test's fast pauses, a one-second heartbeat.
    func driver(over transport: InterposingTransport) -> ReplicaMigrationDriver {
        var driver = ReplicaMigrationDriver(transport: transport, store: transport, clock: { 1_700_000_000_000 })
        driver.catchUpTimeout = .seconds(20)
        driver.settleTimeout = .seconds(5)
        driver.heartbeatEvery = .seconds(1)
        driver.pause = { try? await Task.sleep(for: min($0, .milliseconds(50))) }
        return driver
    }
}

/// The running driver's view of a ``MigrationTestCluster``: counts its calls (map reads and
/// updates, replica admin calls) and runs an interposed action, once, before call number `n`.
final class InterposingTransport: ReplicaAdminTransport, ShardMapStore, Sendable {
    private struct State {
        var calls = 0
        var at: Int?
        var action: (@Sendable () async -> Void)?
    }

    let cluster: MigrationTestCluster
    private let state = Mutex(State())

    init(cluster: MigrationTestCluster) { self.cluster = cluster }

    var calls: Int { state.withLock { $0.calls } }

    /// Runs `action` to its end before call number `n` (counting from 1) goes out.
    func interpose(before n: Int, _ action: @escaping @Sendable () async -> Void) {
        state.withLock { $0.at = n; $0.action = action }
    }

    private func next() async {
        let due: (@Sendable () async -> Void)? = state.withLock { state in
            state.calls += 1
            guard state.calls == state.at, let action = state.action else { return nil }
            state.action = nil
            return action
        }
        await due?()
    }

    func replicaAdmin(shard: ShardID, call: ReplicaAdminCall, on node: NodeID?) async -> Result<ReplicaConfiguration?, ReplicaAdminFailure> {
        await next()
        return await cluster.replicaAdmin(shard: shard, call: call, on: node)
    }

    var backendName: String { cluster.backendName }

    func load() async throws(ShardMapStoreError) -> VersionedShardMap? {
        await next()
        return try await cluster.load()
    }

    func compareAndSwap(expectedRevision: UInt64, map: ShardMap) async throws(ShardMapStoreError) -> VersionedShardMap {
        await next()
        return try await cluster.compareAndSwap(expectedRevision: expectedRevision, map: map)
    }

    func watch(afterRevision: UInt64, onChange: @escaping @Sendable (VersionedShardMap) -> Void) async throws(ShardMapStoreError) -> any ShardMapWatch {
        try await cluster.watch(afterRevision: afterRevision, onChange: onChange)
    }

    func health() async -> ShardMapStoreHealth { await cluster.health() }
    func shutdown() async {}
}
