import AlmanacMetadata
import Foundation
import Logging

/// Finishes cross-shard transactions whose coordinator died or lost touch (docs/sharding.md,
/// "Recovery"). On every shard this node leads, a transaction prepared for longer than `inDoubtAfter`
/// (by the shard's command clock) is settled from its primary shard's journal: the resolver asks the
/// primary to record an abort decision, which fails if the commit decision came first. Then it
/// journals the matching commit or abort on the participant. Presumed abort: a transaction without
/// a commit decision is aborted, never committed by a resolver.
public final class TransactionResolver: Sendable {
    let coordinator: TransactionCoordinator
    let inDoubtAfterNanoseconds: Int64
    let logger: Logger

    public init(coordinator: TransactionCoordinator, inDoubtAfter: Duration = .seconds(2), logger: Logger) {
        self.coordinator = coordinator
        let parts = inDoubtAfter.components
        self.inDoubtAfterNanoseconds = parts.seconds &* 1_000_000_000 &+ parts.attoseconds / 1_000_000_000
        self.logger = logger
    }

    /// Runs passes every `interval` until the task is cancelled.
    public func run(interval: Duration = .milliseconds(500)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await pass()
        }
    }

    /// One pass over the shards this node leads; returns the transactions it settled.
    @discardableResult
    public func pass(now: Timestamp = TransactionCoordinator.now()) async -> [(TransactionID, TransactionDecision)] {
        var settled: [(TransactionID, TransactionDecision)] = []
        for shard in await coordinator.transport.ledShards() {
            guard let inDoubt = await coordinator.transport.transactionsInDoubt(on: shard) else { continue }
            for (id, preparedAt) in inDoubt where now.nanoseconds &- preparedAt.nanoseconds > inDoubtAfterNanoseconds {
                switch await coordinator.command(.abortDecision(id), on: id.coordinator) {
                case .success(.success):
                    if case .success = await coordinator.command(.abortTransaction(id), on: shard) { settled.append((id, .aborted)) }
                case .success(.failure(let error)) where error.code == .eexist:
                    if case .success = await coordinator.command(.commitTransaction(id), on: shard) { settled.append((id, .committed)) }
                case .success(.failure(let error)):
                    logger.warning("cannot settle a transaction in doubt", metadata: ["txn": "\(id)", "error": "\(error)"])
                case .failure(let failure):
                    logger.info("primary shard unreachable; transaction stays in doubt", metadata: ["txn": "\(id)", "reason": "\(failure.reason)"])
                }
            }
        }
        for (id, decision) in settled {
            logger.notice("settled a transaction in doubt", metadata: ["txn": "\(id)", "decision": "\(decision)"])
        }
        return settled
    }
}
