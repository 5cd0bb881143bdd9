import AlmanacMetadata
import AlmanacServer
import Foundation
import Logging

/// The coordinator of cross-shard transactions (docs/sharding.md), run by the node whose shard
/// answered `CROSS_SHARD` to a client's write: plan from reads, prepare every participant, journal
/// the commit decision on the primary shard together with the client's session result, then commit
/// the participants and forget the decision.
///
/// It reaches every shard through a ``TransactionTransport`` (in production the client protocol, so
/// participants on other nodes are reached over real sockets and leader changes are followed). It
/// keeps no state of its own: a coordinator that dies leaves prepared participants, which the
/// ``TransactionResolver`` of their leaders finishes from the primary's decision.
public final class TransactionCoordinator: CrossShardExecutor {
    let transport: any TransactionTransport
    let logger: Logger
    /// Attempts (plan + prepare) before giving up with CONFLICT.
    let maxAttempts: Int

    public init(transport: any TransactionTransport, logger: Logger, maxAttempts: Int = 8) {
        self.transport = transport
        self.logger = logger
        self.maxAttempts = maxAttempts
    }

    public func execute(
        _ operation: MetadataOperation, primary: ShardID, session: SessionRef,
        completion: @escaping @Sendable (Result<WriteOutcome, ServiceError>) -> Void
    ) {
        Task { completion(await run(operation, primary: primary, session: session)) }
    }

    /// Runs `operation` to its end: committed (the outcome), refused (a namespace error, nothing
    /// changed), or undecided (a service error; the client retries with the same sequence).
    public func run(_ operation: MetadataOperation, primary: ShardID, session: SessionRef) async -> Result<WriteOutcome, ServiceError> {
        var pause: UInt64 = 2_000_000
        for _ in 0..<maxAttempts {
            let map: ShardMap
            do { map = try await transport.shardMap() } catch {
                return .failure(ServiceError(.unavailable, "cross-shard \(operation.name): no shard map: \(error)"))
            }
            let planner = TransactionPlanner(transport: transport, map: map)
            let plan: TransactionPlan
            do throws(PlanFailure) {
                plan = try await planner.plan(operation, now: Self.now())
            } catch {
                switch error {
                case .namespace(let failure) where failure.code == .conflict:
                    try? await Task.sleep(nanoseconds: UInt64.random(in: pause...(2 * pause)))
                    pause = min(pause * 2, 100_000_000)
                    continue
                case .namespace(let failure):
                    return await refuse(failure, operation, primary: primary, session: session)
                case .unavailable(let reason):
                    return .failure(ServiceError(.unavailable, "cross-shard \(operation.name): \(reason)"))
                }
            }
            let id = TransactionID(coordinator: primary, number: UInt64.random(in: 1...UInt64.max))
            switch await runTransaction(id, plan: plan, primary: primary, session: session) {
            case .committed(let outcome, let index):
                return .success(WriteOutcome(result: .success(outcome), index: index))
            case .retry:
                try? await Task.sleep(nanoseconds: UInt64.random(in: pause...(2 * pause)))
                pause = min(pause * 2, 100_000_000)
            case .refused(let error):
                return await refuse(error, operation, primary: primary, session: session)
            case .duplicate:
                // Another attempt of this request decided first: its recorded result is the answer
                // (one that has left the session's window answers STALE_SEQUENCE).
                return await refuse(MetadataError(.alreadyApplied, "an earlier attempt of this request decided it"), operation, primary: primary, session: session)
            case .undecided(let reason):
                return .failure(ServiceError(.timeout, "cross-shard \(operation.name): \(reason)"))
            }
        }
        return .success(WriteOutcome(result: .failure(MetadataError(
            .conflict, "cross-shard \(operation.name) kept meeting concurrent transactions; retry")), index: 0))
    }

    /// Answers a refusal through the primary's record of the request: another attempt of the same
    /// request (a hedge, a retry) may have committed it, and then the name this attempt's plan found
    /// taken is that attempt's own work. The first of a refusal and a commit decision recorded for
    /// the sequence is the answer to every attempt.
    private func refuse(_ error: MetadataError, _ operation: MetadataOperation, primary: ShardID, session: SessionRef) async -> Result<WriteOutcome, ServiceError> {
        switch await commandWithIndex(.recordRefusal(session: session.id, sequence: session.sequence, error: error), on: primary) {
        case .success((let result, let index)):
            return .success(WriteOutcome(result: result, index: index))
        case .failure(let failure):
            return .failure(ServiceError(.timeout, "cross-shard \(operation.name): refused (\(error.code)), but the refusal could not be recorded: \(failure.reason)"))
        }
    }

    enum TransactionEnd {
        case committed(OperationOutcome, index: UInt64)
        case retry
        case refused(MetadataError)
        case duplicate
        case undecided(String)
    }

    private func runTransaction(_ id: TransactionID, plan: TransactionPlan, primary: ShardID, session: SessionRef) async -> TransactionEnd {
        var fragments = plan.fragments
        var outcome = plan.outcome
        var prepared: [ShardID] = []
        // 1. Prepare (a new directory first: its id goes into the parent's entry).
        if let newDirectory = plan.newDirectory {
            switch await command(.prepareTransaction(id, steps: [newDirectory.step]), on: newDirectory.shard) {
            case .success(.success(.prepared(let allocated))):
                prepared.append(newDirectory.shard)
                guard let created = allocated.first else { return await abort(id, prepared, primary, .refused(MetadataError(.internalInconsistency, "\(id): no id allocated"))) }
                fragments[newDirectory.parentShard, default: []].append(
                    .addEntry(directory: newDirectory.parent, name: newDirectory.name, child: created, type: .directory))
                outcome = .attributes(newDirectory.attributes(created))
            case .success(.failure(let error)):
                return await abort(id, prepared, primary, Self.endFor(error))
            case .success(.success(let other)):
                return await abort(id, prepared, primary, .refused(MetadataError(.internalInconsistency, "\(id): prepare answered \(other)")))
            case .failure(let failure):
                return await abort(id, prepared + [newDirectory.shard], primary, .undecided(failure.reason))
            }
        }
        for shard in fragments.keys.sorted() {
            guard let steps = fragments[shard] else { continue }
            switch await command(.prepareTransaction(id, steps: steps), on: shard) {
            case .success(.success):
                prepared.append(shard)
            case .success(.failure(let error)):
                return await abort(id, prepared, primary, Self.endFor(error))
            case .failure(let failure):
                // The prepare may have been applied: abort it too.
                return await abort(id, prepared + [shard], primary, .undecided(failure.reason))
            }
        }
        // 2. The commit point: the decision and the client's result, in the primary's journal.
        var decided: UInt64?
        for _ in 0..<3 where decided == nil {
            switch await commandWithIndex(.commitDecision(id, session: session.id, sequence: session.sequence, outcome: outcome), on: primary) {
            case .success((.success, let index)):
                decided = index
            case .success((.failure(let error), _)) where error.code == .alreadyApplied:
                return await abort(id, prepared, primary, .duplicate)
            case .success((.failure(let error), _)) where error.code == .transactionAborted:
                return await abort(id, prepared, primary, .retry)
            case .success((.failure(let error), _)):
                return await abort(id, prepared, primary, .refused(error))
            case .failure:
                continue  // unknown: the decision is idempotent, ask again
            }
        }
        guard let index = decided else {
            // Undecided: the resolver settles it (an abort decision loses to a commit that made it).
            return .undecided("\(id): the commit decision could not be confirmed")
        }
        // 3. Commit every participant (a failure here is finished by the participants' resolver).
        var allCommitted = true
        for shard in prepared.uniqued() {
            if case .failure(let failure) = await command(.commitTransaction(id), on: shard) {
                allCommitted = false
                logger.warning("commit not confirmed; the resolver will finish it", metadata: ["txn": "\(id)", "shard": "\(shard)", "reason": "\(failure.reason)"])
            }
        }
        if allCommitted { _ = await command(.forgetDecision(id), on: primary) }
        return .committed(outcome, index: index)
    }

    /// Aborts the prepared participants and records the abort decision, then ends with `end`.
    private func abort(_ id: TransactionID, _ prepared: [ShardID], _ primary: ShardID, _ end: TransactionEnd) async -> TransactionEnd {
        switch await command(.abortDecision(id), on: primary) {
        case .success(.failure(let error)) where error.code == .eexist:
            // Committed after all (an earlier, unconfirmed decision made it): finish the commit.
            for shard in prepared.uniqued() { _ = await command(.commitTransaction(id), on: shard) }
            return .undecided("\(id) committed after an unconfirmed decision")
        default:
            break
        }
        for shard in prepared.uniqued() { _ = await command(.abortTransaction(id), on: shard) }
        _ = await command(.forgetDecision(id), on: primary)
        return end
    }

    private static func endFor(_ error: MetadataError) -> TransactionEnd {
        switch error.code {
        case .conflict, .wrongShard: return .retry
        default: return .refused(error)
        }
    }

    // MARK: - Shard commands

    func command(_ operation: MetadataOperation, on shard: ShardID) async -> Result<CommandResult, CommandFailure> {
        await commandWithIndex(operation, on: shard).map { $0.0 }
    }

    func commandWithIndex(_ operation: MetadataOperation, on shard: ShardID) async -> Result<(CommandResult, UInt64), CommandFailure> {
        await transport.command(operation, on: shard)
    }

    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(nanoseconds: Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec))
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
