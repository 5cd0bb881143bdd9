import AlmanacMetadata
import AlmanacNode
import AlmanacPotentialEntries
import AlmanacWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The I/O half of the prefetching path on a node: per shard it leads, a ``PrefetchPlanner``, the
/// bounded ``PrefetchQueue`` and the worker that journals potential entries through the shard's
/// Raft group (docs/prediction.md, "Potential entries").
///
/// - The worker issues the best queued candidate while fewer than `maxInFlight` issues are in
///   flight. An issue is durable on a majority when its proposal completes (the host answers after
///   the majority commit). A failed proposal (timeout, lost leadership) is queued again until
///   `maxRetries`; an entry whose predicted arrival passed before it was issued is dropped.
/// - A request that matches an issued entry (same session, same operation) is journaled as a
///   confirmation naming the entry's tag. The log orders it after the issue, so the leader may
///   confirm an entry it has not seen committed; if the issue was refused or lost, the
///   confirmation is refused before execution and the service journals the full entry.
/// - Every 25 ms, issued entries past their deadline are expired by one journal entry.
/// - Prefetching yields to real traffic: while the node's request backlog is above
///   ``PrefetchSettings/yieldAboveRequestBacklog``, the model still learns but its predictions are
///   counted as `yielded` instead of queued, and the worker issues nothing.
///
/// All state sits behind one lock; proposals are made outside it and never wait.
public final class Prefetcher: Sendable {
    public let settings: PrefetchSettings
    private let host: MultiRaftHost<MetadataReplica>
    private let state: NIOLockedValueBox<[ShardID: ShardState]>
    private let ticker: NIOLockedValueBox<RepeatedTask?>

    typealias PendingKey = IssuedPotentials<PrefetchCandidate>.Key

    struct ShardState {
        var planner: PrefetchPlanner
        var queue: PrefetchQueue
        /// The issued predictions (`AlmanacPotentialEntries`' leader rules, which the simulator runs too).
        var pending = IssuedPotentials<PrefetchCandidate>()
        var inFlight = 0
        var counters = Almanac_Api_V1_PrefetchShardStatus()
    }

    public init(settings: PrefetchSettings, host: MultiRaftHost<MetadataReplica>) {
        self.settings = settings
        self.host = host
        self.state = NIOLockedValueBox([:])
        self.ticker = NIOLockedValueBox(nil)
    }

    /// Starts the expiry ticker on the host loop.
    public func start() {
        guard settings.enabled else { return }
        let task = host.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(25), delay: .milliseconds(25)) { [weak self] _ in
            self?.expireOverdue()
        }
        ticker.withLockedValue { $0 = task }
    }

    public func stop() {
        ticker.withLockedValue { $0?.cancel(); $0 = nil }
    }

    /// Monotonic microseconds.
    static func nowMicros() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) &* 1_000_000 &+ Int64(spec.tv_nsec) / 1000
    }

    private func fresh() -> ShardState {
        ShardState(planner: PrefetchPlanner(settings: settings), queue: PrefetchQueue(capacity: settings.queueSize))
    }

    // MARK: - Serving

    /// The confirmation entry for `operation` of `session` if an issued potential entry matches it
    /// (and takes that entry out of the pending set), else nil.
    func confirmation(shard: ShardID, operation: MetadataOperation, session: SessionRef) -> [UInt8]? {
        guard settings.enabled, operation.isPredictable else { return nil }
        let tag = operation.potentialTag
        let now = Self.nowMicros()
        let matched: Bool = state.withLockedValue { shards in
            guard shards[shard]?.pending.match(PendingKey(session: session.id, tag: tag), now: now) == true else {
                shards[shard]?.counters.unpredicted += 1
                return false
            }
            return true
        }
        guard matched else { return nil }
        return CommandEnvelope(
            shardID: shard, migrationTimestamp: 0, sessionID: session.id, sequence: session.sequence,
            time: ReplicatedMetadataService.now(), operation: .confirmPotential(tag: tag)
        ).encoded()
    }

    /// Counts the outcome of a confirmation: answered (`confirmBytes` journaled instead of `fullBytes`) or refused.
    func confirmationFinished(shard: ShardID, answered: Bool, confirmBytes: Int, fullBytes: Int) {
        state.withLockedValue { shards in
            if answered {
                shards[shard]?.counters.confirmed += 1
                shards[shard]?.counters.addSaved(fullBytes - confirmBytes)
            } else {
                shards[shard]?.counters.refused += 1
                shards[shard]?.counters.unpredicted += 1
            }
            shards[shard]?.counters.confirmBytes += UInt64(confirmBytes)
        }
    }

    /// Learns from a served write and queues what the session will send next.
    func served(shard: ShardID, operation: MetadataOperation, session: SessionRef, result: CommandResult) {
        guard settings.enabled else { return }
        if case .closeSession = operation {
            state.withLockedValue { $0[shard]?.planner.forget(session: session.id) }
            return
        }
        let now = Self.nowMicros()
        let busy = settings.yields(toRequestBacklog: host.requestBacklog.current)
        state.withLockedValue { shards in
            var shardState = shards.removeValue(forKey: shard) ?? fresh()
            let (candidates, predictions) = shardState.planner.observe(
                session: session.id, operation: operation, result: result, nowMicros: now)
            shardState.counters.predictions += UInt64(predictions)
            shardState.queue.remove(session: session.id, operation: operation)
            if busy {
                shardState.counters.yielded += UInt64(candidates.count)
                shards[shard] = shardState
                return
            }
            for candidate in candidates {
                let key = PendingKey(session: candidate.session, tag: candidate.operation.potentialTag)
                guard !shardState.pending.isTracked(key),
                      !shardState.queue.contains(session: candidate.session, operation: candidate.operation) else { continue }
                if shardState.queue.insert(candidate) != nil { shardState.counters.dropped += 1 }
            }
            shards[shard] = shardState
        }
        drain(shard: shard)
    }

    // MARK: - The worker

    /// Issues queued candidates while the in-flight bound allows.
    private func drain(shard: ShardID) {
        guard !settings.yields(toRequestBacklog: host.requestBacklog.current) else { return }
        let now = Self.nowMicros()
        let issues: [(PrefetchCandidate, [UInt8])] = state.withLockedValue { shards in
            guard var shardState = shards[shard] else { return [] }
            var out: [(PrefetchCandidate, [UInt8])] = []
            shardState.counters.dropped += UInt64(shardState.queue.dropPassed(now: now))
            while shardState.inFlight < settings.maxInFlight, let candidate = shardState.queue.popFirst() {
                let key = PendingKey(session: candidate.session, tag: candidate.operation.potentialTag)
                guard !shardState.pending.isTracked(key) else { continue }
                let time = ReplicatedMetadataService.now()
                let data = CommandEnvelope(
                    shardID: shard, migrationTimestamp: 0, sessionID: candidate.session, sequence: 0, time: time,
                    operation: .issuePotential(operation: candidate.operation,
                                               expiresAt: time.addingMicros(settings.journalExpiryMicros))
                ).encoded()
                shardState.pending.proposed(candidate, key: key, deadline: candidate.deadline, now: now)
                shardState.inFlight += 1
                out.append((candidate, data))
            }
            shards[shard] = shardState
            return out
        }
        for (candidate, data) in issues {
            host.proposingSpeculatively(group: UInt64(shard), data: data).whenComplete { [self] result in
                issueFinished(shard: shard, candidate: candidate, bytes: data.count, result: result)
            }
        }
    }

    private func issueFinished(shard: ShardID, candidate: PrefetchCandidate, bytes: Int,
                               result: Result<AppliedResult<CommandResult>, any Error>) {
        let key = PendingKey(session: candidate.session, tag: candidate.operation.potentialTag)
        state.withLockedValue { shards in
            guard var shardState = shards[shard] else { return }
            shardState.inFlight -= 1
            switch result {
            case .success(let applied) where applied.result.errorCode == nil:
                shardState.counters.issued += 1
                shardState.counters.potentialBytes += UInt64(bytes)
                // Still pending unless a request confirmed it meanwhile.
                shardState.pending.committed(key, id: applied.index)
            case .success:
                shardState.counters.refused += 1
                shardState.counters.potentialBytes += UInt64(bytes)
                shardState.pending.failed(key)
            case .failure(let error):
                shardState.pending.failed(key)
                if case .notLeader? = error as? HostError {
                    // Another node leads the shard now: what this node learned stays, its queue goes.
                    shardState.counters.dropped += UInt64(shardState.queue.count + 1)
                    shardState.queue = PrefetchQueue(capacity: settings.queueSize)
                } else if candidate.attempts < settings.maxRetries {
                    var again = candidate
                    again.attempts += 1
                    shardState.counters.requeued += 1
                    if shardState.queue.insert(again) != nil { shardState.counters.dropped += 1 }
                } else {
                    shardState.counters.dropped += 1
                }
            }
            shards[shard] = shardState
        }
        drain(shard: shard)
    }

    /// Expires the issued entries whose deadline passed, one journal entry per shard.
    private func expireOverdue() {
        let now = Self.nowMicros()
        let expiries: [(ShardID, [UInt8], Int)] = state.withLockedValue { shards in
            var out: [(ShardID, [UInt8], Int)] = []
            for shard in shards.keys.sorted() {
                guard var shardState = shards[shard] else { continue }
                // Entries never heard back are forgotten: the journal's own expiry removes them.
                let ids = shardState.pending.overdue(now: now, forgetUnheardAfter: settings.journalExpiryMicros)
                shardState.counters.dropped += UInt64(shardState.queue.dropPassed(now: now))
                if !ids.isEmpty {
                    let data = CommandEnvelope(
                        shardID: shard, migrationTimestamp: 0, sessionID: 0, sequence: 0, time: ReplicatedMetadataService.now(),
                        operation: .expirePotential(ids: ids)
                    ).encoded()
                    shardState.counters.expired += UInt64(ids.count)
                    shardState.counters.potentialBytes += UInt64(data.count)
                    out.append((shard, data, ids.count))
                }
                shards[shard] = shardState
            }
            return out
        }
        for (shard, data, _) in expiries {
            // A lost expiry is harmless: the state machine sweeps the entries at their journal expiry.
            host.proposingSpeculatively(group: UInt64(shard), data: data).whenComplete { _ in }
        }
    }

    // MARK: - Status

    /// Per-shard counters, in shard order.
    public func status() -> [Almanac_Api_V1_PrefetchShardStatus] {
        state.withLockedValue { shards in
            shards.keys.sorted().compactMap { shard in
                guard let shardState = shards[shard] else { return nil }
                var status = shardState.counters
                status.shard = UInt32(shard)
                status.queueDepth = UInt32(shardState.queue.count)
                status.pending = UInt32(shardState.pending.count)
                return status
            }
        }
    }

    /// The four parameters as the wire reports them.
    public var settingsStatus: Almanac_Api_V1_PrefetchSettingsStatus {
        var status = Almanac_Api_V1_PrefetchSettingsStatus()
        status.predictionModelType = settings.modelType.rawValue
        status.confidenceThreshold = settings.confidenceThreshold
        status.prefetchQueueSize = UInt32(settings.queueSize)
        status.zoneCount = UInt32(settings.zoneCount)
        return status
    }
}

extension Almanac_Api_V1_PrefetchShardStatus {
    mutating func addSaved(_ delta: Int) {
        if delta > 0 { savedBytes += UInt64(delta) }
    }
}

extension Timestamp {
    func addingMicros(_ micros: Int64) -> Timestamp {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(micros &* 1000)
        return Timestamp(nanoseconds: overflow ? .max : sum)
    }
}
