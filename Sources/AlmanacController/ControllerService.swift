import AlmanacClient
import AlmanacControl
import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacShardMap
import AlmanacWire
import Foundation
import CoreMetrics
import Logging

/// How a node runs its share of the placement controller.
public struct ControllerServiceConfiguration: Sendable {
    public var node: NodeID
    public var settings: ControllerSettings
    public var election: ControllerElection
    /// The mode of the very first lease (later the stored lease's mode rules).
    public var initialMode: ControllerMode = .active
    /// Pause between two passes of the holder (each pass reads the nodes' monitors and feeds the
    /// buckets completed since the last one).
    public var passEvery: Duration = .seconds(2)
    /// Connections to the cluster (admin token, TLS): the controller is a client of the cluster.
    public var client: AlmanacClientConfiguration

    public init(node: NodeID, settings: ControllerSettings, client: AlmanacClientConfiguration) {
        self.node = node
        self.settings = settings
        self.election = ControllerElection(node: node)
        self.client = client
    }
}

/// The placement controller's shell on one node (docs/controller.md).
///
/// Every node runs one. Its election loop keeps the ``ControllerLease`` in the map store: the
/// holder renews it, the others take it over once it has expired. The holder's work loop
///   1. on becoming holder (a new term): resumes every replica migration and segment hand-off left
///      in the map by a controller (or a `ctl` command) that died;
///   2. each pass: reads every node's access monitor, feeds the buckets completed since the last
///      pass to ``PlacementController`` (the library's policy, pure), and acts on the newest
///      bucket's decisions through the migration and hand-off drivers, unless the mode is shadow;
///   3. records every decision and its outcome in the audit record.
/// Nothing here is trusted for safety: every move is the drivers' protocol, fenced by the map's
/// compare-and-swap, so a deposed holder that still acts cannot corrupt the map or a shard.
public actor ControllerService {
    public let configuration: ControllerServiceConfiguration
    let store: any ShardMapStore & ControlRecordStore
    let logger: Logger
    private var lease: ControllerLease?
    private var workingTerm: UInt64 = 0
    private var controller: PlacementController?
    /// The controller's move ids and the migration intents that carry them out.
    private var intents: [Int: (intent: UInt64, started: ContinuousClock.Instant)] = [:]
    private var client: AlmanacClient?
    private var reader: ClusterLoadReader?
    /// Actions the policy decided for a later moment (predictive transfers, timed to land just
    /// before the bucket they were decided for), with their audit records; carried out by the pass
    /// that finds them due, if this node still acts.
    private var deferred: [(action: ControllerAction, due: Double, lead: Double, decision: ControllerDecision)] = []
    /// This node's driver token in the migration intents its controller records: one for the
    /// service's life, so the heartbeats of one pass are the owner's in the next.
    private let driverToken = UInt64.random(in: 1...UInt64.max)
    /// When the last resume (and sweep for stray learners) ran.
    private var lastResume: ContinuousClock.Instant?
    /// The last pass saw a migration intent, not one of this controller's moves, whose driver is silent.
    private var silentIntentSeen = false
    /// An intent silent this long is taken over by a resume (its driver is taken for dead).
    static let liveWindow = ReplicaMigrationDriver.liveWindow
    /// The sweep for stray learners runs at least this often while this node acts.
    static let sweepEvery: Duration = .seconds(60)
    /// Decisions, moves and forecast error, exported through swift-metrics.
    let metrics: ControllerMetrics

    /// `metricsFactory`: where the controller's metrics go (default: the process-wide backend).
    public init(configuration: ControllerServiceConfiguration, store: any ShardMapStore & ControlRecordStore, logger: Logger,
                metricsFactory: (any MetricsFactory)? = nil) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.metrics = metricsFactory.map { ControllerMetrics(factory: $0) } ?? ControllerMetrics()
    }

    /// Runs the election and the work loop until the task is cancelled.
    public func run() async {
        let client = AlmanacClient(configuration: configuration.client)
        let reader = ClusterLoadReader(configuration: configuration.client)
        self.client = client
        self.reader = reader
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.electionLoop() }
            group.addTask { await self.workLoop() }
            group.addTask { await self.heartbeatLoop() }
        }
        await client.shutdown()
        await reader.shutdown()
    }

    /// The lease this node holds and may act on now, if any.
    public func actingLease() -> ControllerLease? {
        guard let lease, configuration.election.mayAct(holding: lease, now: Self.nowMillis()) else { return nil }
        return lease
    }

    static func nowMillis() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    // MARK: - Election

    private func electionLoop() async {
        let election = configuration.election
        while !Task.isCancelled {
            await electOnce(election)
            try? await Task.sleep(for: .milliseconds(Int64(election.renewEveryMillis)))
        }
    }

    private func electOnce(_ election: ControllerElection) async {
        let started = Self.nowMillis()
        do {
            let record = try await store.loadRecord(.controllerLease)
            let current = try record.map { try ControllerLease.decode($0.bytes) }
            guard var next = election.nextLease(current: current, now: started, mode: configuration.initialMode) else {
                lease = nil
                return
            }
            next.settings = configuration.settings
            _ = try await store.compareAndSwapRecord(.controllerLease, expectedRevision: record?.revision ?? 0, bytes: next.encoded())
            if lease?.term != next.term { logger.notice("controller: node \(election.node) holds the lease (term \(next.term), mode \(next.mode.rawValue))") }
            lease = next
        } catch {
            // Lost a race, or the store is unavailable: not the holder until a renewal succeeds.
            if lease != nil { logger.notice("controller: node \(election.node) lost the lease: \(error)") }
            lease = nil
        }
    }

    // MARK: - Work

    /// Keeps the heartbeats of this controller's prepared moves alive while they wait for their
    /// commit (a pass may be busy for longer than a resume's live window). A move whose intent was
    /// taken over or ended by another driver is forgotten and counted as failed.
    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            guard actingLease() != nil, !intents.isEmpty, let reader, let cluster = try? await reader.read(),
                  let (migration, _) = drivers(cluster) else { continue }
            for (move, entry) in intents {
                do {
                    try await migration.renewHeartbeat(entry.intent)
                } catch MigrationError.superseded(let reason) {
                    guard intents[move]?.intent == entry.intent else { continue }
                    intents[move] = nil
                    controller?.moveFailed(move)
                    logger.notice("controller: move \(move) (migration \(entry.intent)) superseded: \(reason)")
                } catch {
                    // The store did not answer: retried at the next beat.
                }
            }
        }
    }

    private func workLoop() async {
        while !Task.isCancelled {
            guard let lease = actingLease() else {
                try? await Task.sleep(for: .milliseconds(300))
                continue
            }
            if lease.term != workingTerm {
                workingTerm = lease.term
                controller = nil
                intents = [:]
                deferred = []
                await resumeInFlight(handoffs: true)
            } else if resumeDue() {
                await resumeInFlight(handoffs: false)
            }
            if lease.mode != .off {
                do {
                    try await pass(lease)
                } catch {
                    logger.warning("controller pass failed: \(error)")
                }
            }
            // Wake for the next deferred action if it is due before the next pass.
            var pause = configuration.passEvery
            if let due = deferred.map(\.due).min() {
                let until = Duration.milliseconds(Int64(max(0, (due - Date().timeIntervalSince1970) * 1000)))
                pause = min(pause, until)
            }
            try? await Task.sleep(for: pause)
        }
    }

    /// Carries out the deferred actions that are due and files their outcomes under their decisions.
    private func runDue(map: ShardMap, cluster: ClusterLoadView) async {
        let now = Date().timeIntervalSince1970
        let due = deferred.filter { $0.due <= now }
        guard !due.isEmpty, let (migration, handoff) = drivers(cluster) else { return }
        deferred.removeAll { $0.due <= now }
        var updated: [ControllerDecision] = []
        for item in due {
            var decision = item.decision
            // Shadow and off hold for deferred actions too: nothing decided earlier acts after the
            // mode changed, or after this node lost the lease.
            guard let lease = actingLease() else {
                decision.outcome = "dropped: this node no longer holds the controller lease"
                updated.append(decision)
                continue
            }
            guard lease.mode == .active else {
                decision.outcome = "dropped: the mode became \(lease.mode.rawValue) before it was due"
                updated.append(decision)
                continue
            }
            let started = Date().timeIntervalSince1970
            decision.outcome = await execute(item.action, map: map, cluster: cluster, migration: migration, handoff: handoff)
            let finished = Date().timeIntervalSince1970
            // Where the move landed against the bucket it was decided for (negative: before it).
            let target = item.due + item.lead
            decision.outcome += String(format: " (started %.1f s, done %.1f s before the bucket it was decided for)", target - started, target - finished)
            logger.notice("controller: \(decision.action) on shard \(decision.shard): \(decision.outcome)")
            updated.append(decision)
        }
        metrics.decided(updated)
        do {
            try await ControllerAuditLog.record(updated, in: store)
        } catch {
            logger.warning("controller: deferred outcomes not filed in the audit: \(error)")
        }
    }

    private func drivers(_ cluster: ClusterLoadView) -> (migration: ReplicaMigrationDriver, handoff: SegmentHandoffDriver)? {
        guard let client else { return nil }
        let clock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }
        var migration = ReplicaMigrationDriver(
            transport: ClientReplicaAdminTransport(client: client, addresses: cluster.addresses, nodeConfiguration: configuration.client),
            store: store, clock: clock)
        migration.driverToken = driverToken
        let handoff = SegmentHandoffDriver(transport: ClientTransactionTransport(client: client, host: nil), store: store, clock: clock)
        return (migration, handoff)
    }

    private func creation(_ cluster: ClusterLoadView) throws -> ShardCreationDriver {
        guard let client else { throw ShardCreationError.interrupted("the controller's client is not running") }
        return ShardCreationDriver(
            transport: ClientReplicaAdminTransport(client: client, addresses: cluster.addresses, nodeConfiguration: configuration.client), store: store)
    }

    /// Whether a resume is due between terms: the last pass saw an intent whose driver is silent
    /// (not one of this controller's moves), or the periodic sweep for stray learners is due (it
    /// resumes silent intents too, in modes where no pass runs).
    private func resumeDue() -> Bool {
        guard let lastResume else { return true }
        return silentIntentSeen || ContinuousClock.now - lastResume >= Self.sweepEvery
    }

    /// Finishes what a dead controller (or `ctl`) left in the map, leaving migration intents whose
    /// driver is alive (a running `ctl migrate`) to it, and removes stray learners. Hand-offs are
    /// resumed only at the start of a term (`handoffs`): the shards fence a second hand-off driver,
    /// but a live `ctl reshard` would be rolled back for nothing.
    private func resumeInFlight(handoffs resumeHandoffs: Bool) async {
        lastResume = .now
        silentIntentSeen = false
        do {
            guard let reader else { return }
            let cluster = try await reader.read()
            guard let (migration, handoff) = drivers(cluster) else { return }
            let map = try await store.load()?.map
            guard let map else { return }
            let ours = Set(intents.values.map(\.intent))
            let resumed = try await migration.resume(liveWindow: Self.liveWindow, skipping: ours)
            let handoffs = map.handoffs.isEmpty || !resumeHandoffs ? [] : try await handoff.resume()
            var decisions: [ControllerDecision] = []
            for stray in resumed.strays {
                decisions.append(note("remove stray learner", shard: stray.shard, outcome: "applied: removed node \(stray.node)'s learner and replica",
                                      reason: "a learner no migration intent names (a superseded driver died before withdrawing it)"))
            }
            let migrations = resumed.reports
            for report in migrations {
                decisions.append(note("resume migration \(report.intent.id)", shard: report.intent.shard, outcome: report.outcome.rawValue,
                                      reason: "left in the map by an earlier controller or ctl"))
            }
            for report in handoffs {
                decisions.append(note("resume hand-off \(report.intent.id)", shard: report.intent.target, outcome: report.outcome.rawValue,
                                      reason: "left in the map by an earlier controller or ctl"))
            }
            guard !decisions.isEmpty else { return }
            try await ControllerAuditLog.record(decisions, in: store)
            logger.notice("controller: resumed \(migrations.count) migrations and \(handoffs.count) hand-offs, removed \(resumed.strays.count) stray learners; \(resumed.stillDriven.count) left to live drivers")
        } catch {
            logger.warning("controller: resuming work in flight failed (retried at the next term or pass): \(error)")
            // A failed start of term is run again whole; a failed resume between terms at the next
            // pass (without forgetting this term's own prepared moves).
            if resumeHandoffs { workingTerm = 0 } else { lastResume = nil }
        }
    }

    private func note(_ action: String, shard: ShardID, outcome: String, reason: String) -> ControllerDecision {
        ControllerDecision(id: 0, time: Date().timeIntervalSince1970, term: workingTerm, policy: configuration.settings.policy.rawValue,
                           mode: lease?.mode ?? .active, action: action, shard: shard, fromLeader: nil, toLeader: nil, fromNodes: [],
                           toNodes: [], outcome: outcome, reason: reason)
    }

    private func pass(_ lease: ControllerLease) async throws {
        guard let reader else { return }
        let cluster = try await reader.read()
        guard let versioned = try await store.load() else { return }
        let map = versioned.map
        let ours = Set(intents.values.map(\.intent))
        let window = ReplicaMigrationDriver.milliseconds(Self.liveWindow)
        silentIntentSeen = map.migrations.contains { !ours.contains($0.id) && $0.silence(at: Self.nowMillis()) >= window }
        await runDue(map: map, cluster: cluster)
        var settings = configuration.settings
        if let bucket = cluster.bucketSeconds { settings.bucketSeconds = bucket }
        if controller == nil || controller?.members != cluster.members || controller?.settings != settings {
            controller = try PlacementController(settings: settings, members: cluster.members, segmentCount: map.keying.segmentCount,
                                                 run: UInt64.random(in: 1...UInt64.max))
        }
        guard var controller else { return }
        let observations = ClusterLoadReader.observations(cluster.statuses, now: Date().timeIntervalSince1970)
        var newest: (actions: [ControllerAction], decisions: [ControllerDecision]) = ([], [])
        for (index, observation) in observations.enumerated() {
            let result = controller.observe(observation, map: map)
            if index == observations.count - 1 {
                newest = result
            } else {
                // History fed to a new controller: its moves were never made.
                for case .prepareMove(let move, _, _, _) in result.actions { controller.moveFailed(move) }
            }
        }
        let realized = controller.takeRealizedGains()
        self.controller = controller
        if let error = controller.forecastError { metrics.forecastError(lastBucket: error.lastBucket, bound: error.bound) }
        if !realized.isEmpty {
            do {
                try await ControllerAuditLog.settle(realized, in: store)
            } catch {
                logger.warning("controller: realized gains not filed in the audit: \(error)")
            }
        }
        guard !newest.actions.isEmpty else { return }
        var decisions = newest.decisions
        for index in decisions.indices {
            decisions[index].term = lease.term
            decisions[index].mode = lease.mode
        }
        if lease.mode == .shadow {
            for index in decisions.indices { decisions[index].outcome = "shadow (not acted on)" }
            for case .prepareMove(let move, _, _, _) in newest.actions { self.controller?.moveFailed(move) }
            metrics.decided(decisions)
            try await ControllerAuditLog.record(decisions, in: store)
            return
        }
        decisions = try await ControllerAuditLog.record(decisions, in: store)
        guard let (migration, handoff) = drivers(cluster) else { return }
        let now = Date().timeIntervalSince1970
        for (index, action) in newest.actions.enumerated() {
            guard actingLease() != nil else { break }
            if let due = self.controller?.executionTime(of: action), due > now {
                let lead = self.controller?.actionLeadSeconds ?? 0
                decisions[index].outcome = String(format: "scheduled: in %.1f s, %.1f s before the bucket it was decided for", due - now, lead)
                deferred.append((action, due, lead, decisions[index]))
                continue
            }
            let outcome = await execute(action, map: map, cluster: cluster, migration: migration, handoff: handoff)
            decisions[index].outcome = outcome
            logger.notice("controller: \(decisions[index].action) on shard \(decisions[index].shard): \(outcome)")
        }
        // Scheduled decisions are counted once they are carried out (or dropped), by `runDue`.
        metrics.decided(decisions.filter { !$0.outcome.hasPrefix("scheduled") })
        try await ControllerAuditLog.record(decisions, in: store)
    }

    private func execute(_ action: ControllerAction, map: ShardMap, cluster: ClusterLoadView, migration: ReplicaMigrationDriver,
                         handoff: SegmentHandoffDriver) async -> String {
        let begun = ContinuousClock.now
        let kind: ControllerMetrics.MoveKind? = switch action {
        case .transferLeadership: .leadership
        case .prepareMove: .replica
        case .split: .split
        case .merge: .merge
        case .commitMove, .abortMove: nil
        }
        if let kind { metrics.moveStarted(kind) }
        do {
            switch action {
            case .transferLeadership(let shard, let to):
                let report = try await migration.executeMigration(
                    ReplicaMigrationPlan(shard: shard, target: to, transferLeadership: true), members: cluster.members, down: cluster.down)
                metrics.moveFinished(.leadership, rolledBack: report.outcome == .rolledBack, after: ContinuousClock.now - begun)
                return "applied: \(report.outcome.rawValue)"
            case .prepareMove(let move, let shard, let source, let target):
                let started = ContinuousClock.now
                guard let intent = try await migration.prepareMigration(
                    ReplicaMigrationPlan(shard: shard, target: target, source: source), members: cluster.members, down: cluster.down) else {
                    controller?.moveFailed(move)
                    metrics.moveFailed(.replica)
                    return "failed: node \(target) already holds a replica"
                }
                intents[move] = (intent.id, started)
                controller?.movePrepared(move, at: Date().timeIntervalSince1970)
                return "prepared: migration \(intent.id), learner caught up"
            case .commitMove(let move, let newLeader):
                guard let (intent, started) = intents.removeValue(forKey: move) else { return "failed: unknown move \(move)" }
                let report = try await migration.commitPreparedMigration(intent)
                if let newLeader, let shard = controller?.shard(ofMove: move) {
                    _ = try? await migration.executeMigration(
                        ReplicaMigrationPlan(shard: shard, target: newLeader, transferLeadership: true), members: cluster.members, down: cluster.down)
                }
                let elapsed = ContinuousClock.now - started
                controller?.moveCommitted(move, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                metrics.moveFinished(.replica, rolledBack: report.outcome == .rolledBack, after: elapsed)
                return "applied: \(report.outcome.rawValue)"
            case .abortMove(let move):
                guard let (intent, _) = intents.removeValue(forKey: move) else { return "failed: unknown move \(move)" }
                let report = try await migration.abortPreparedMigration(intent)
                controller?.moveAborted(move)
                return "applied: \(report.outcome.rawValue)"
            case .split(let shard, let at):
                // An empty shard of the map, or a new one (a new Raft group).
                let target = try await creation(cluster).splitTarget(members: cluster.members)
                let segments = (Int(at)..<map.keying.segmentCount).map { SegmentID($0) }.filter { map.shard(ofSegment: $0) == shard }
                let report = try await handoff.move(segments: segments, to: target)
                metrics.moveFinished(.split, rolledBack: report.outcome == .rolledBack, after: ContinuousClock.now - begun)
                return "applied: \(report.outcome.rawValue) to shard \(target)"
            case .merge(let shard, let other):
                let segments = (0..<map.keying.segmentCount).map { SegmentID($0) }.filter { map.shard(ofSegment: $0) == other }
                let report = try await handoff.move(segments: segments, to: shard)
                metrics.moveFinished(.merge, rolledBack: report.outcome == .rolledBack, after: ContinuousClock.now - begun)
                return "applied: \(report.outcome.rawValue)"
            }
        } catch {
            var outcome = "failed: \(error)"
            // A replica move's failure is counted whichever phase failed (its prepare started it):
            // a commit's failure is its replica move's.
            if case .abortMove = action {} else { metrics.moveFailed(kind ?? .replica) }
            switch action {
            case .prepareMove(let move, let shard, _, let target):
                controller?.moveFailed(move)
                let known = intents.removeValue(forKey: move)?.intent
                outcome += await settle(shard: shard, intent: known, target: target, migration: migration)
            case .commitMove(let move, _):
                let shard = controller?.shard(ofMove: move)
                controller?.moveFailed(move)
                if let shard, let known = intents.removeValue(forKey: move)?.intent {
                    outcome += await settle(shard: shard, intent: known, target: nil, migration: migration)
                }
            default:
                break
            }
            return outcome
        }
    }

    /// After a move of ours failed half-way: its intent (the one we know, or the one on `shard`
    /// towards `target`) is finished or rolled back now rather than at the next term, so the
    /// shard does not stay blocked. Best effort: what is left is resumed by the next holder.
    private func settle(shard: ShardID, intent: UInt64?, target: NodeID?, migration: ReplicaMigrationDriver) async -> String {
        guard let map = try? await store.load()?.map else { return "" }
        let left = map.migrations.filter { $0.shard == shard && ($0.id == intent || (intent == nil && $0.target.node == target)) }
        var notes: [String] = []
        for stale in left {
            if let report = try? await migration.abortPreparedMigration(stale.id) {
                notes.append("migration \(stale.id) \(report.outcome.rawValue)")
            } else {
                notes.append("migration \(stale.id) left for the next controller")
            }
        }
        return notes.isEmpty ? "" : " (" + notes.joined(separator: ", ") + ")"
    }
}
