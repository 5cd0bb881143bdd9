import AlmanacKeyspace
import AlmanacNode
import AlmanacShardMap

/// What `execute_migration` is asked to do: move `shard`'s replica from `source` (nil: the replica
/// in the target's zone) to node `target`, and its leadership there if `transferLeadership`. A plan
/// whose target already holds a replica only moves the leadership.
public struct ReplicaMigrationPlan: Sendable, Hashable {
    public var shard: ShardID
    public var target: NodeID
    public var source: NodeID?
    public var transferLeadership: Bool

    public init(shard: ShardID, target: NodeID, source: NodeID? = nil, transferLeadership: Bool = false) {
        self.shard = shard
        self.target = target
        self.source = source
        self.transferLeadership = transferLeadership
    }
}

/// Why a migration did not end as asked.
public enum MigrationError: Error, Sendable, CustomStringConvertible {
    /// Bad input (an unknown shard or node, a node that is down, a zone that already holds a
    /// replica, a shard already migrating): nothing changed.
    case invalid(String)
    /// The migration was refused on the way (the target never caught up, the leader refused the
    /// change) and rolled back: the map and the Raft configuration are as before.
    case rolledBack(String)
    /// An outcome is unknown (no answer from a node, the leader or the map store). The intent stays
    /// in the map; ``ReplicaMigrationDriver/resume()`` (`almanac ctl migrate --resume`) finishes or
    /// rolls it back.
    case interrupted(String)
    /// Another driver took the migration over (this one looked dead to it) or ended it: this driver
    /// stopped and withdrew what it had added after that. The other driver finishes or rolls back.
    case superseded(String)

    public var description: String {
        switch self {
        case .invalid(let message): "invalid migration: \(message)"
        case .rolledBack(let message): "migration rolled back: \(message)"
        case .interrupted(let message): "migration interrupted (resume it): \(message)"
        case .superseded(let message): "migration superseded (another driver finishes or rolled it back): \(message)"
        }
    }
}

/// A learner of a shard that neither the map nor an intent names: left by a driver that was
/// superseded and died before withdrawing it.
public struct StrayLearner: Sendable, Hashable, CustomStringConvertible {
    public var shard: ShardID
    public var node: NodeID
    public var description: String { "node \(node)'s learner of shard \(shard)" }

    public init(shard: ShardID, node: NodeID) {
        self.shard = shard
        self.node = node
    }
}

/// What a resume did: the migrations it finished or rolled back, the ones it left to their live
/// drivers, and the stray learners it removed.
public struct MigrationResumption: Sendable, Hashable {
    public var reports: [MigrationReport] = []
    /// Intents whose driver showed a sign of life within the live window: left alone.
    public var stillDriven: [ReplicaMigrationIntent] = []
    /// Learners no intent named, removed with their replicas.
    public var strays: [StrayLearner] = []

    public init(reports: [MigrationReport] = [], stillDriven: [ReplicaMigrationIntent] = [], strays: [StrayLearner] = []) {
        self.reports = reports
        self.stillDriven = stillDriven
        self.strays = strays
    }
}

/// Progress of a running migration, for `ctl migrate` output.
public struct MigrationProgress: Sendable, Hashable {
    public var id: UInt64
    public var shard: ShardID
    /// recorded, joined, learner, catching up, swapped, committed, leader moved, source dropped,
    /// cleared, rolled back.
    public var phase: String
    /// Bytes of snapshot files the leader sent the target.
    public var snapshotBytes: UInt64
    /// The leader's view of the target's log, and the leader's last index.
    public var targetMatch: UInt64
    public var leaderLastIndex: UInt64
    public var leader: NodeID
    /// Seconds from the learner's addition until it caught up: the copy (snapshot transfer, its
    /// verification and decoding on the target, then the log), 0 until then.
    public var catchUpSeconds: Double = 0
    /// Of the catch-up, seconds until the target held a snapshot (its match index first above 0:
    /// sent, verified and decoded); the rest is the log after the snapshot. 0 until then.
    public var snapshotSeconds: Double = 0
    /// Of the snapshot phase, seconds until the leader's count of snapshot bytes sent to the target
    /// last grew (polled every 200 ms): the copy itself. The rest of the phase is the target
    /// verifying, reading back and decoding the file. 0 until the target held the snapshot, or
    /// when no snapshot was sent.
    public var transferSeconds: Double = 0

    /// Entries the target still misses.
    public var lag: UInt64 { leaderLastIndex > targetMatch ? leaderLastIndex - targetMatch : 0 }
}

/// How a migration ended.
public struct MigrationReport: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable {
        case moved = "moved"
        case leadershipMoved = "leadership moved"
        case rolledBack = "rolled back"
    }

    public var intent: ReplicaMigrationIntent
    public var outcome: Outcome
    public var progress: MigrationProgress
    /// The map's epoch when the driver finished.
    public var mapEpoch: Epoch
}

/// `execute_migration(plan)`: moves one replica of a shard to another node (same zone, or a zone
/// without one of the shard's replicas) as a two-phase commit recorded in the shard map store, by
/// the protocol of docs/migration.md:
///
/// prepare: 1. record the intent (CAS, with its migration timestamp); 2. start an empty replica on
/// the target; 3. add it as a learner; 4. let it catch up (snapshot, then the log).
/// commit: 5. move the leadership off the source if it leads; 6. swap the learner in for the source
/// by joint consensus (the commit point); 7. name the target in the map (CAS, epoch bump,
/// migration timestamp); 8. move the leadership to the target if planned; 9. drop the source's
/// replica once the joint configuration is left; 10. clear the intent.
///
/// Any step may fail or the driving process may die. A definite refusal before the swap rolls back
/// (remove the learner, drop the target's replica, clear the intent); an unknown outcome leaves the
/// intent for ``resume(liveWindow:)``, which reads the leader's configuration: swapped means
/// forward, otherwise back. Every call is idempotent and the configuration changes carry
/// preconditions the leader checks, so repeating any step is safe.
///
/// Two drivers (docs/migration.md): the intent names its driver (``driverToken``) and carries its
/// heartbeat, renewed before and after every step that adds something and every
/// ``heartbeatEvery`` while the target catches up. A resume leaves an intent whose driver is alive
/// alone, and takes a silent one over before acting. A driver whose heartbeat is refused (taken
/// over, or gone) stops and withdraws the learner and replica it added unless the map or another
/// intent names them; a stray learner left by a driver that died in between is removed by the
/// next resume's sweep.
///
/// Async functions throw only ``MigrationError`` but are declared with untyped `throws` (see
/// ``SegmentHandoffDriver``).
public struct ReplicaMigrationDriver: Sendable {
    public let transport: any ReplicaAdminTransport
    public let store: any ShardMapStore
    /// Tries of a call or map update whose outcome stays unknown before giving up (interrupted).
    public var attempts = 6
    /// The target is caught up when it misses at most this many of the leader's entries.
    public var catchUpEntries: UInt64 = 64
    /// How long the target may take to catch up before the migration rolls back.
    public var catchUpTimeout: Duration = .seconds(600)
    /// How long a leadership transfer or the leave of a joint configuration is waited for.
    public var settleTimeout: Duration = .seconds(10)
    /// Wall-clock milliseconds (the intent's migration timestamp).
    public var clock: @Sendable () -> UInt64
    public var pause: @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }
    public var newID: @Sendable () -> UInt64 = { UInt64.random(in: 1...(UInt64.max >> 1)) }
    public var onProgress: (@Sendable (MigrationProgress) -> Void)?
    /// A pause after every progress report (0: none): to watch a migration, or to kill its driver
    /// at a chosen step in tests.
    public var stepPause: Duration = .zero
    /// This driver's token in the intents it owns (random; a controller keeps one across its passes).
    public var driverToken: UInt64 = UInt64.random(in: 1...UInt64.max)
    /// How often the heartbeat is renewed while the target catches up.
    public var heartbeatEvery: Duration = .seconds(2)
    /// How long a resume leaves an intent to a driver that showed a sign of life (several
    /// heartbeats, plus the wall-clock skew between the machines that drive and resume).
    public static let liveWindow: Duration = .seconds(15)

    /// Whole milliseconds of `duration` (0 if negative): the unit of intents' heartbeats.
    public static func milliseconds(_ duration: Duration) -> UInt64 { UInt64(max(0, duration / .milliseconds(1))) }

    public init(transport: any ReplicaAdminTransport, store: any ShardMapStore, clock: @escaping @Sendable () -> UInt64) {
        self.transport = transport
        self.store = store
        self.clock = clock
    }

    // MARK: - Entry points

    /// Runs `plan`. `members`: every node of the cluster and its zone; `down`: nodes known to be
    /// down (a target among them is refused).
    public func executeMigration(_ plan: ReplicaMigrationPlan, members: [NodeID: ZoneName], down: Set<NodeID> = []) async throws -> MigrationReport {
        let intent: ReplicaMigrationIntent
        switch try await record(plan, members: members, down: down) {
        case .leadershipMoved(let report): return report
        case .recorded(let recorded): intent = recorded
        }
        var progress = MigrationProgress(id: intent.id, shard: intent.shard, phase: "recorded", snapshotBytes: 0,
                                         targetMatch: 0, leaderLastIndex: 0, leader: 0)
        await report(progress)
        let preparation = await prepare(intent, progress: &progress)
        return try await finish(intent, preparation, progress)
    }

    /// The prepare phase alone (a controller's two-phase move): records the intent, adds the
    /// target as a learner and waits until it has caught up. The intent stays in the map; finish it
    /// with ``commitPreparedMigration(_:)`` or ``abortPreparedMigration(_:)`` (or ``resume()``,
    /// which rolls a prepared intent back). A plan whose target already holds a replica only moves
    /// the leadership and returns nil.
    public func prepareMigration(_ plan: ReplicaMigrationPlan, members: [NodeID: ZoneName], down: Set<NodeID> = []) async throws -> ReplicaMigrationIntent? {
        let intent: ReplicaMigrationIntent
        switch try await record(plan, members: members, down: down) {
        case .leadershipMoved: return nil
        case .recorded(let recorded): intent = recorded
        }
        var progress = MigrationProgress(id: intent.id, shard: intent.shard, phase: "recorded", snapshotBytes: 0,
                                         targetMatch: 0, leaderLastIndex: 0, leader: 0)
        await report(progress)
        switch await catchUp(intent, progress: &progress) {
        case .caughtUp, .swapped: return intent
        case .refused(let reason):
            let report = try await rollBack(intent, progress)
            if report.outcome == .moved { return intent }
            throw MigrationError.rolledBack(reason)
        case .failed(let error): throw error
        }
    }

    /// The commit phase of a migration prepared by ``prepareMigration(_:members:down:)``: swap,
    /// map commit, leadership, drop the source, clear the intent.
    public func commitPreparedMigration(_ id: UInt64) async throws -> MigrationReport {
        guard let intent = try await loadMap().map.migration(id) else { throw MigrationError.invalid("no migration \(id) in the map") }
        var progress = MigrationProgress(id: intent.id, shard: intent.shard, phase: intent.phase.rawValue, snapshotBytes: 0,
                                         targetMatch: 0, leaderLastIndex: 0, leader: 0)
        if intent.phase == .committed { return try await rollForward(intent, progress) }
        let swapped = await swap(intent, progress: &progress)
        return try await finish(intent, swapped, progress)
    }

    /// Rolls a prepared migration back (forward if its swap already took effect).
    public func abortPreparedMigration(_ id: UInt64) async throws -> MigrationReport {
        guard let intent = try await loadMap().map.migration(id) else { throw MigrationError.invalid("no migration \(id) in the map") }
        let progress = MigrationProgress(id: intent.id, shard: intent.shard, phase: intent.phase.rawValue, snapshotBytes: 0,
                                         targetMatch: 0, leaderLastIndex: 0, leader: 0)
        return intent.phase == .committed ? try await rollForward(intent, progress) : try await rollBack(intent, progress)
    }

    private func finish(_ intent: ReplicaMigrationIntent, _ preparation: Preparation, _ progress: MigrationProgress) async throws -> MigrationReport {
        switch preparation {
        case .swapped:
            return try await rollForward(intent, progress)
        case .caughtUp:
            throw MigrationError.interrupted("node \(intent.target.node) caught up on shard \(intent.shard) but was not swapped in")
        case .refused(let reason):
            let report = try await rollBack(intent, progress)
            if report.outcome == .moved { return report }
            throw MigrationError.rolledBack(reason)
        case .failed(let error):
            throw error
        }
    }

    private enum Recording {
        case recorded(ReplicaMigrationIntent)
        case leadershipMoved(MigrationReport)
    }

    /// Step 1: checks the plan and records its intent in the map.
    private func record(_ plan: ReplicaMigrationPlan, members: [NodeID: ZoneName], down: Set<NodeID>) async throws -> Recording {
        let current = try await loadMap()
        guard let record = current.map.shards[plan.shard] else { throw MigrationError.invalid("shard \(plan.shard) does not exist") }
        guard let targetZone = members[plan.target] else { throw MigrationError.invalid("node \(plan.target) is not a member of the cluster") }
        guard !down.contains(plan.target) else { throw MigrationError.invalid("node \(plan.target) is down") }
        if record.replicas.contains(where: { $0.node == plan.target }) {
            guard plan.transferLeadership, plan.source == nil || plan.source == plan.target else {
                throw MigrationError.invalid("node \(plan.target) already holds a replica of shard \(plan.shard)")
            }
            return .leadershipMoved(try await moveLeadership(of: plan.shard, to: plan.target))
        }
        let source: ReplicaLocation
        if let named = plan.source {
            guard let location = record.replicas.first(where: { $0.node == named }) else {
                throw MigrationError.invalid("node \(named) holds no replica of shard \(plan.shard) (its replicas: \(Self.describe(record.replicas)))")
            }
            source = location
        } else {
            guard let location = record.replicas.first(where: { $0.zone == targetZone }) else {
                throw MigrationError.invalid("zone \(targetZone) holds no replica of shard \(plan.shard); name the replica to move (--from)")
            }
            source = location
        }
        let intent = ReplicaMigrationIntent(
            id: newID(), shard: plan.shard, source: source, target: ReplicaLocation(node: plan.target, zone: targetZone),
            transferLeadership: plan.transferLeadership, phase: .preparing, migrationTimestamp: clock(), driver: driverToken)
        var trial = current.map
        do { try trial.recordMigration(intent, knownNodes: members) } catch { throw MigrationError.invalid(error.description) }
        _ = try await updateMap { map throws(KeyspaceError) in
            if map.migration(intent.id) != nil { return false }
            try map.recordMigration(intent, knownNodes: members)
            return true
        }
        return .recorded(intent)
    }

    /// Finishes every migration whose intent is in the map and whose driver is silent: forward
    /// when the leader's configuration has the target swapped in (or the intent is committed), back
    /// otherwise. An intent whose driver showed a sign of life within `liveWindow` is left to it
    /// (nil: every intent is taken over, for drivers known to be dead). Then sweeps the shards for
    /// stray learners (see ``sweepStrayLearners()``). `skipping`: intents the caller drives itself
    /// (a controller's prepared moves).
    public func resume(liveWindow: Duration? = Self.liveWindow, skipping: Set<UInt64> = []) async throws -> MigrationResumption {
        var result = MigrationResumption()
        let window = liveWindow.map(Self.milliseconds)
        for listed in try await loadMap().map.migrations where !skipping.contains(listed.id) {
            let now = clock()
            let taken: ShardMap
            do {
                taken = try await updateMap { map throws(KeyspaceError) in
                    try map.takeOverMigration(listed.id, driver: driverToken, at: now, liveWindow: window)
                    return true
                }
            } catch MigrationError.invalid {
                // Alive elsewhere, or ended meanwhile.
                if let current = try await loadMap().map.migration(listed.id) { result.stillDriven.append(current) }
                continue
            }
            guard let intent = taken.migration(listed.id) else { continue }
            let progress = MigrationProgress(id: intent.id, shard: intent.shard, phase: intent.phase.rawValue, snapshotBytes: 0,
                                             targetMatch: 0, leaderLastIndex: 0, leader: 0)
            result.reports.append(intent.phase == .committed ? try await rollForward(intent, progress) : try await rollBack(intent, progress))
        }
        result.strays = try await sweepStrayLearners()
        return result
    }

    /// Removes every learner of a shard that no intent names as its target (with the learner's
    /// replica): what a driver that was superseded, then died before withdrawing, left behind.
    /// Shards whose leader does not answer are skipped (the next sweep sees them).
    public func sweepStrayLearners() async throws -> [StrayLearner] {
        let map = try await loadMap().map
        var removed: [StrayLearner] = []
        for shard in map.shards.keys.sorted() {
            guard case .success(let view?) = await transport.replicaAdmin(shard: shard, call: .configuration, on: nil) else { continue }
            for learner in view.learners {
                // Read the map again: an intent recorded after the first read names its learner.
                let current = try await loadMap().map
                if current.migrations.contains(where: { $0.shard == shard && $0.target.node == learner }) { continue }
                if current.shards[shard]?.replicas.contains(where: { $0.node == learner }) == true { continue }
                guard case .done = try await call(.removeLearner(learner), on: shard) else { continue }
                _ = try? await call(.leave, on: shard, node: learner)
                removed.append(StrayLearner(shard: shard, node: learner))
            }
        }
        return removed
    }

    /// Renews this driver's heartbeat in migration `id` (a controller between the two phases of its
    /// moves). Throws ``MigrationError/superseded(_:)`` when another driver took it over or it is
    /// gone (after withdrawing what this driver added).
    public func renewHeartbeat(_ id: UInt64) async throws {
        guard let intent = try await loadMap().map.migration(id) else {
            throw MigrationError.superseded("migration \(id) is no longer in the map")
        }
        try await heartbeat(intent)
    }

    /// Renews this driver's heartbeat in `intent`; a refusal (taken over, or gone) withdraws what
    /// this driver added and throws ``MigrationError/superseded(_:)``.
    private func heartbeat(_ intent: ReplicaMigrationIntent) async throws {
        let now = clock()
        do {
            _ = try await updateMap { map throws(KeyspaceError) in
                if let current = map.migration(intent.id), current.driver == driverToken, current.heartbeat == now { return false }
                try map.touchMigration(intent.id, driver: driverToken, at: now)
                return true
            }
        } catch MigrationError.invalid(let reason) {
            await withdraw(intent)
            throw MigrationError.superseded(reason)
        }
    }

    /// After this driver lost its intent: removes the target's learner and drops its replica unless
    /// the map lists the target for the shard or an intent names it (then they are someone's).
    /// Best effort; a learner left over is removed by the next resume's sweep.
    private func withdraw(_ intent: ReplicaMigrationIntent) async {
        guard let map = try? await loadMap().map else { return }
        let target = intent.target.node
        if map.shards[intent.shard]?.replicas.contains(where: { $0.node == target }) == true { return }
        if map.migrations.contains(where: { $0.shard == intent.shard && $0.target.node == target }) { return }
        guard let conf = try? await leaderConfiguration(intent.shard), !conf.voters.contains(target) else { return }
        if conf.learners.contains(target) {
            guard case .done? = try? await call(.removeLearner(target), on: intent.shard) else { return }
        }
        _ = try? await call(.leave, on: intent.shard, node: target)
    }

    // MARK: - Steps

    private enum Preparation {
        /// The target is a caught-up learner: ready to swap.
        case caughtUp
        /// The target is a voter and the source is not: roll forward.
        case swapped
        /// A definite refusal before the swap: roll back.
        case refused(String)
        /// An unknown outcome: leave the intent for ``resume()``.
        case failed(MigrationError)
    }

    /// Steps 2-6: join, learner, catch up, leadership off the source, swap.
    private func prepare(_ intent: ReplicaMigrationIntent, progress: inout MigrationProgress) async -> Preparation {
        let caughtUp = await catchUp(intent, progress: &progress)
        guard case .caughtUp = caughtUp else { return caughtUp }
        return await swap(intent, progress: &progress)
    }

    /// Steps 2-4: join, learner, catch up.
    private func catchUp(_ intent: ReplicaMigrationIntent, progress: inout MigrationProgress) async -> Preparation {
        let target = intent.target.node
        do {
            try await heartbeat(intent)
            guard case .done = try await call(.join, on: intent.shard, node: target) else {
                return .refused("node \(target) cannot host a replica of shard \(intent.shard)")
            }
            progress.phase = "joined"
            await report(progress)
            try await heartbeat(intent)
            if case .refused(let reason) = try await call(.addLearner(target), on: intent.shard) { return .refused(reason) }
            progress.phase = "learner"
            await report(progress)
            try await heartbeat(intent)
            var beaten = ContinuousClock.now
            // Catch up: the leader sends a snapshot, then the log.
            let catchUpStarted = ContinuousClock.now
            let deadline = catchUpStarted.advanced(by: catchUpTimeout)
            var conf = try await leaderConfiguration(intent.shard)
            var lastSnapshotGrowth: Duration?
            while true {
                let bytesBefore = progress.snapshotBytes
                note(conf, target: target, in: &progress)
                if progress.snapshotBytes > bytesBefore && progress.targetMatch == 0 {
                    lastSnapshotGrowth = ContinuousClock.now - catchUpStarted
                }
                if progress.targetMatch > 0 && progress.snapshotSeconds == 0 {
                    let installed = ContinuousClock.now - catchUpStarted
                    progress.snapshotSeconds = max(1e-9, installed / .seconds(1))
                    progress.transferSeconds = lastSnapshotGrowth.map { $0 / .seconds(1) } ?? 0
                }
                guard conf.members.contains(target) else {
                    // Removed by another driver (a resume's rollback or sweep): this one stops.
                    return .refused("node \(target) is no longer in shard \(intent.shard)'s configuration")
                }
                if progress.targetMatch > 0 && progress.lag <= catchUpEntries { break }
                guard ContinuousClock.now < deadline else {
                    return .refused("node \(target) did not catch up within \(catchUpTimeout) (\(progress.lag) entries behind)")
                }
                progress.phase = "catching up"
                onProgress?(progress)
                await pause(.milliseconds(200))
                if ContinuousClock.now - beaten >= heartbeatEvery {
                    try await heartbeat(intent)
                    beaten = ContinuousClock.now
                }
                conf = try await leaderConfiguration(intent.shard)
            }
            progress.phase = "caught up"
            let copy = ContinuousClock.now - catchUpStarted
            progress.catchUpSeconds = Double(copy.components.seconds) + Double(copy.components.attoseconds) / 1e18
            await report(progress)
            return .caughtUp
        } catch let error as MigrationError {
            return .failed(error)
        } catch {
            return .failed(.interrupted("\(error)"))
        }
    }

    /// Steps 5-6: leadership off the source, swap the caught-up learner in by joint consensus.
    private func swap(_ intent: ReplicaMigrationIntent, progress: inout MigrationProgress) async -> Preparation {
        let target = intent.target.node, source = intent.source.node
        do {
            if intent.phase == .preparing { try await heartbeat(intent) }
            let conf = try await leaderConfiguration(intent.shard)
            // The source must not lead while it is swapped out (Raft would hand over anyway).
            if conf.leader == source, let other = conf.voters.filter({ $0 != source }).max(by: { (conf.matchIndex[$0] ?? 0) < (conf.matchIndex[$1] ?? 0) }) {
                _ = try await call(.transferLeadership(to: other), on: intent.shard)
                if let leader = try await waitForLeader(of: intent.shard, where: { $0 != source && $0 != 0 }) { progress.leader = leader }
            }
            switch try await call(.promoteLearner(target, replacing: source), on: intent.shard) {
            case .refused(let reason):
                // Maybe a swap from an earlier attempt took effect meanwhile: the configuration decides.
                if Self.isSwapped(try await leaderConfiguration(intent.shard), intent) { break }
                return .refused(reason)
            case .done:
                break
            }
            let swapped = try await leaderConfiguration(intent.shard)
            guard Self.isSwapped(swapped, intent) else {
                return .failed(.interrupted("the swap of node \(target) for node \(source) on shard \(intent.shard) is not visible in the leader's configuration"))
            }
            progress.leader = swapped.leader
            progress.phase = "swapped"
            await report(progress)
            return .swapped
        } catch let error as MigrationError {
            return .failed(error)
        } catch {
            return .failed(.interrupted("\(error)"))
        }
    }

    /// Steps 7-10, from wherever they stopped.
    private func rollForward(_ intent: ReplicaMigrationIntent, _ start: MigrationProgress) async throws -> MigrationReport {
        var progress = start
        _ = try await updateMap { map throws(KeyspaceError) in
            guard let current = map.migration(intent.id), current.phase == .preparing else { return false }
            try map.commitMigration(intent.id)
            return true
        }
        progress.phase = "committed"
        await report(progress)
        if intent.transferLeadership {
            _ = try await call(.transferLeadership(to: intent.target.node), on: intent.shard)
            if let leader = try await waitForLeader(of: intent.shard, where: { $0 == intent.target.node }) {
                progress.leader = leader
                progress.phase = "leader moved"
                await report(progress)
            }
        }
        // The source leaves only once the joint configuration is left (it votes in it until then).
        let deadline = ContinuousClock.now.advanced(by: settleTimeout)
        while true {
            let conf = try await leaderConfiguration(intent.shard)
            note(conf, target: intent.target.node, in: &progress)
            if !conf.isJoint && !conf.members.contains(intent.source.node) { break }
            guard ContinuousClock.now < deadline else {
                throw MigrationError.interrupted("shard \(intent.shard) still counts node \(intent.source.node) in its configuration")
            }
            await pause(.milliseconds(50))
        }
        guard case .done = try await call(.leave, on: intent.shard, node: intent.source.node) else {
            throw MigrationError.interrupted("node \(intent.source.node) refused to drop its replica of shard \(intent.shard)")
        }
        progress.phase = "source dropped"
        await report(progress)
        let final = try await clearIntent(intent.id)
        progress.phase = "cleared"
        await report(progress)
        return MigrationReport(intent: intent, outcome: .moved, progress: progress, mapEpoch: final.epoch)
    }

    /// Back to the state before the intent: remove the learner, drop the target's replica, clear
    /// the intent. Rolls forward instead when the swap already took effect.
    private func rollBack(_ intent: ReplicaMigrationIntent, _ start: MigrationProgress) async throws -> MigrationReport {
        var progress = start
        let conf = try await leaderConfiguration(intent.shard)
        if Self.isSwapped(conf, intent) { return try await rollForward(intent, progress) }
        switch try await call(.removeLearner(intent.target.node), on: intent.shard) {
        case .refused:
            // The target became a voter meanwhile (a swap from an earlier attempt): forward.
            if Self.isSwapped(try await leaderConfiguration(intent.shard), intent) { return try await rollForward(intent, progress) }
            throw MigrationError.interrupted("the learner on node \(intent.target.node) cannot be removed from shard \(intent.shard)")
        case .done:
            break
        }
        guard !(try await leaderConfiguration(intent.shard)).members.contains(intent.target.node) else {
            throw MigrationError.interrupted("node \(intent.target.node) is still in shard \(intent.shard)'s configuration")
        }
        guard case .done = try await call(.leave, on: intent.shard, node: intent.target.node) else {
            throw MigrationError.interrupted("node \(intent.target.node) refused to drop its replica of shard \(intent.shard)")
        }
        let final = try await clearIntent(intent.id)
        progress.phase = "rolled back"
        await report(progress)
        return MigrationReport(intent: intent, outcome: .rolledBack, progress: progress, mapEpoch: final.epoch)
    }

    /// A plan whose target already holds a replica: transfer the leadership and record the hint.
    private func moveLeadership(of shard: ShardID, to target: NodeID) async throws -> MigrationReport {
        _ = try await call(.transferLeadership(to: target), on: shard)
        guard let leader = try await waitForLeader(of: shard, where: { $0 == target }) else {
            throw MigrationError.interrupted("node \(target) did not take the leadership of shard \(shard) within \(settleTimeout)")
        }
        let final = try await updateMap { map throws(KeyspaceError) in
            guard map.shards[shard]?.leaderHint != leader else { return false }
            try map.setLeaderHint(leader, of: shard)
            return true
        }
        let location = final.shards[shard]?.replicas.first { $0.node == target } ?? ReplicaLocation(node: target, zone: "")
        let intent = ReplicaMigrationIntent(id: 0, shard: shard, source: location, target: location, transferLeadership: true,
                                            phase: .committed, migrationTimestamp: 0)
        let progress = MigrationProgress(id: 0, shard: shard, phase: "leader moved", snapshotBytes: 0, targetMatch: 0, leaderLastIndex: 0, leader: leader)
        await report(progress)
        return MigrationReport(intent: intent, outcome: .leadershipMoved, progress: progress, mapEpoch: final.epoch)
    }

    /// Step 10 (and the end of a rollback): removes the intent from the map.
    private func clearIntent(_ id: UInt64) async throws -> ShardMap {
        try await updateMap { map throws(KeyspaceError) in
            guard map.migration(id) != nil else { return false }
            map.clearMigration(id)
            return true
        }
    }

    static func isSwapped(_ conf: ReplicaConfiguration, _ intent: ReplicaMigrationIntent) -> Bool {
        conf.voters.contains(intent.target.node) && !conf.voters.contains(intent.source.node)
    }

    private func note(_ conf: ReplicaConfiguration, target: NodeID, in progress: inout MigrationProgress) {
        progress.targetMatch = conf.matchIndex[target] ?? 0
        progress.leaderLastIndex = conf.lastIndex
        progress.snapshotBytes = max(progress.snapshotBytes, conf.snapshotBytesSent[target] ?? 0)
        progress.leader = conf.leader
    }

    private func report(_ progress: MigrationProgress) async {
        onProgress?(progress)
        if stepPause > .zero { await pause(stepPause) }
    }

    static func describe(_ replicas: [ReplicaLocation]) -> String {
        replicas.map { "node \($0.node) in \($0.zone)" }.joined(separator: ", ")
    }

    // MARK: - I/O with retries

    private enum CallOutcome {
        case done(ReplicaConfiguration?)
        case refused(String)
    }

    /// `call` on `shard` (on `node` for join and leave), repeated (it is idempotent) while the
    /// outcome is unknown; a refusal is returned, not thrown.
    private func call(_ call: ReplicaAdminCall, on shard: ShardID, node: NodeID? = nil) async throws -> CallOutcome {
        var last = ""
        for attempt in 0..<max(1, attempts) {
            switch await transport.replicaAdmin(shard: shard, call: call, on: node) {
            case .success(let view): return .done(view)
            case .failure(.refused(let reason)): return .refused(reason)
            case .failure(.unknown(let reason)):
                last = reason
                if attempt + 1 < attempts { await pause(.milliseconds(100 << min(attempt, 4))) }
            }
        }
        throw MigrationError.interrupted("\(call) on shard \(shard)\(node.map { " at node \($0)" } ?? ""): \(last)")
    }

    private func leaderConfiguration(_ shard: ShardID) async throws -> ReplicaConfiguration {
        switch try await call(.configuration, on: shard) {
        case .done(let view?): return view
        case .done(nil): throw MigrationError.interrupted("shard \(shard)'s leader answered without a configuration")
        case .refused(let reason): throw MigrationError.interrupted("configuration of shard \(shard): \(reason)")
        }
    }

    /// Waits until the leader satisfies `accept` (nil: not within ``settleTimeout``).
    private func waitForLeader(of shard: ShardID, where accept: (NodeID) -> Bool) async throws -> NodeID? {
        let deadline = ContinuousClock.now.advanced(by: settleTimeout)
        while ContinuousClock.now < deadline {
            if case .success(let view?) = await transport.replicaAdmin(shard: shard, call: .configuration, on: nil), accept(view.leader) {
                return view.leader
            }
            await pause(.milliseconds(50))
        }
        return nil
    }

    private func loadMap() async throws -> VersionedShardMap {
        do { return try await updater.load() } catch let failure as MapUpdateFailure { throw Self.migrationError(failure) }
    }

    private func updateMap(_ change: (inout ShardMap) throws(KeyspaceError) -> Bool) async throws -> ShardMap {
        do { return try await updater.update(change) } catch let failure as MapUpdateFailure { throw Self.migrationError(failure) }
    }

    private var updater: ShardMapUpdater { ShardMapUpdater(store: store, attempts: attempts, pause: pause) }

    private static func migrationError(_ failure: MapUpdateFailure) -> MigrationError {
        switch failure {
        case .invalid(let reason): .invalid(reason)
        case .interrupted(let reason): .interrupted(reason)
        }
    }
}
