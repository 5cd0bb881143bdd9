@testable import AlmanacCoordinator
@testable import AlmanacMetadata
import AlmanacServer
import Logging
import Testing

/// The cross-shard protocol with the coordinator crashing at every step boundary (before a command
/// lands, and after it landed but before its answer came back), then the resolver settling what was
/// left in doubt. The checker reads the whole namespace across the shards after each run:
/// - the operation happened entirely or not at all (the tree equals the one before or the one a
///   single-shard reference reaches by applying it);
/// - global invariants hold (every entry names a live inode on its shard, link counts match the
///   entries naming an inode anywhere, directories' parents match the entries naming them);
/// - nothing stays locked or prepared;
/// - if the client's session recorded a result, the operation happened, exactly once.
@Suite struct CrossShardCrashTests {
    static let shardCount = 4

    @Test func everyOperationSurvivesACoordinatorCrashAtEveryStepBoundary() async throws {
        let scenarios: [String] = ["mkdir", "renameFile", "renameDirectory", "renameOverFile", "rmdir", "unlinkMoved", "link", "loop"]
        var runs = 0
        for scenario in scenarios {
            // How many commands the uncrashed run takes bounds the crash points.
            let total = try await Scenario(scenario).run(crashAfter: nil, losingTheLastAnswer: false).commands
            #expect(total > 0 || scenario == "loop", "\(scenario) never ran the protocol")
            for crashPoint in 0...total {
                for losing in [false, true] {
                    let outcome = try await Scenario(scenario).run(crashAfter: crashPoint, losingTheLastAnswer: losing)
                    #expect(outcome.violations.isEmpty, "\(scenario) crash after \(crashPoint) (answer lost: \(losing)): \(outcome.violations)")
                    runs += 1
                }
            }
        }
        #expect(runs > 60)
    }

    /// A second attempt of a request (the client's hedge, or a retry after a lost answer) whose
    /// coordinator plans after the first attempt decided: its plan finds the first attempt's work
    /// (the new name taken, the source gone) or the same refusal, and must answer the first
    /// attempt's result, not a refusal of its own, and change nothing.
    @Test(arguments: ["mkdir", "renameFile", "renameDirectory", "renameOverFile", "rmdir", "unlinkMoved", "link", "loop"])
    func aSecondAttemptAfterTheFirstDecidedAnswersTheFirstResult(_ name: String) async throws {
        let scenario = try Scenario(name)
        let outcome = try await scenario.run(crashAfter: nil, losingTheLastAnswer: false)
        #expect(outcome.violations.isEmpty)
        let first = try #require(outcome.answer)
        #expect((first.errorCode == nil) == (name != "loop"), "\(name): \(first)")
        let decided = try scenario.tree()
        // The client's own retry reaches the primary's session first.
        let retry = scenario.shards.apply(scenario.operation, on: scenario.primary, session: scenario.session, sequence: scenario.sequence)
        #expect(retry == first)
        let again = await TransactionCoordinator(transport: scenario.shards, logger: Logger(label: "t"))
            .run(scenario.operation, primary: scenario.primary, session: SessionRef(id: scenario.session, sequence: scenario.sequence))
        #expect(try again.get().result == first, "\(name): the second attempt answered \(again), the first \(first)")
        #expect(try scenario.tree() == decided)
        #expect(scenario.lockedOrPrepared().isEmpty)
    }

    /// The other order: a refusal recorded first is the answer, and an attempt that would commit
    /// later loses at its decision.
    @Test func aRefusalRecordedFirstWinsOverALaterCommitDecision() throws {
        var coordinator = try CoordinatorShard()
        func apply(_ operation: MetadataOperation) -> CommandResult { coordinator.apply(operation) }
        var machine: MetadataStateMachine { coordinator.machine }
        let session = try #require(coordinator.session)
        let exists = MetadataError(.eexist, "name exists")
        #expect(apply(.recordRefusal(session: session, sequence: 1, error: exists)) == .failure(exists))
        #expect(apply(.recordRefusal(session: session, sequence: 1, error: MetadataError(.enoent, "other"))) == .failure(exists))
        let late = TransactionID(coordinator: 3, number: 1)
        #expect(apply(.commitDecision(late, session: session, sequence: 1, outcome: .done)).errorCode == .alreadyApplied)
        #expect(machine.decision(of: late) == .aborted)
        #expect(machine.sessionResult(session: session, sequence: 1) == .failure(exists))
        // A committed sequence answers its outcome to a later refusal.
        #expect(apply(.commitDecision(TransactionID(coordinator: 3, number: 2), session: session, sequence: 2, outcome: .done)).errorCode == nil)
        #expect(apply(.recordRefusal(session: session, sequence: 2, error: exists)) == .success(.done))
        // A transient refusal is never recorded; an unknown session is refused.
        let conflict = MetadataError(.conflict, "locked")
        #expect(apply(.recordRefusal(session: session, sequence: 3, error: conflict)) == .failure(conflict))
        #expect(machine.sessionResult(session: session, sequence: 3) == nil)
        #expect(apply(.recordRefusal(session: session + 99, sequence: 1, error: exists)).errorCode == .unknownSession)
    }

    @Test func aLockedRecordRefusesOtherOperationsUntilTheTransactionEnds() throws {
        let keying = try SegmentKeying(segmentCount: 8)
        var machine = MetadataStateMachine(config: MetadataConfig(shardID: 0, keying: keying))
        var index: UInt64 = 0
        func apply(_ operation: MetadataOperation, session: SessionID = 0, sequence: SequenceNumber = 0) -> CommandResult {
            index += 1
            return machine.apply(CommandEnvelope(shardID: 0, sessionID: session, sequence: sequence, time: Timestamp(seconds: Int64(index)), operation: operation), at: index)
        }
        guard case .success(.sessionRegistered(let session)) = apply(.registerSession) else { Issue.record("session"); return }
        guard case .success(.attributes(let file)) = apply(.create(parent: .root, name: "f", mode: 0o644, uid: 0, gid: 0), session: session, sequence: 1) else {
            Issue.record("create"); return
        }
        let txn = TransactionID(coordinator: 0, number: 7)
        #expect(apply(.prepareTransaction(txn, steps: [.removeEntry(directory: .root, name: "f", child: file.id)])).errorCode == nil)
        // The root is locked: a create in it is refused with CONFLICT and not recorded (the same
        // sequence applies once the lock is gone).
        #expect(apply(.create(parent: .root, name: "g", mode: 0o644, uid: 0, gid: 0), session: session, sequence: 2).errorCode == .conflict)
        #expect(throws: MetadataError.self) { try machine.lookup(parent: .root, name: "f") }
        // A second transaction touching the same record cannot prepare.
        let other = TransactionID(coordinator: 0, number: 8)
        #expect(apply(.prepareTransaction(other, steps: [.removeEntry(directory: .root, name: "f", child: file.id)])).errorCode == .conflict)
        // The snapshot carries the prepared transaction and its locks.
        let restored = try MetadataStateMachine(restoringFrom: machine.snapshot())
        #expect(restored.transactionsInDoubt.map(\.id) == [txn])
        #expect(restored == machine)
        _ = apply(.abortTransaction(txn))
        #expect(apply(.create(parent: .root, name: "g", mode: 0o644, uid: 0, gid: 0), session: session, sequence: 2).errorCode == nil)
        #expect(try machine.lookup(parent: .root, name: "f").id == file.id)
        #expect(machine.transactionsInDoubt.isEmpty)
    }

    @Test func decisionsAreDecidedOnceInJournalOrder() throws {
        var coordinator = try CoordinatorShard()
        func apply(_ operation: MetadataOperation) -> CommandResult { coordinator.apply(operation) }
        var machine: MetadataStateMachine { coordinator.machine }
        let session = try #require(coordinator.session)
        let first = TransactionID(coordinator: 3, number: 1)
        let second = TransactionID(coordinator: 3, number: 2)
        // An abort recorded first wins over a late commit decision.
        #expect(apply(.abortDecision(first)).errorCode == nil)
        #expect(apply(.commitDecision(first, session: session, sequence: 1, outcome: .done)).errorCode == .transactionAborted)
        // A commit decision wins over a later abort; a second transaction for the same sequence loses.
        #expect(apply(.commitDecision(second, session: session, sequence: 1, outcome: .done)).errorCode == nil)
        #expect(apply(.abortDecision(second)).errorCode == .eexist)
        let third = TransactionID(coordinator: 3, number: 3)
        #expect(apply(.commitDecision(third, session: session, sequence: 1, outcome: .done)).errorCode == .alreadyApplied)
        #expect(machine.decision(of: third) == .aborted)
        #expect(machine.sessionResult(session: session, sequence: 1) == .success(.done))
        // A decision for a transaction another shard coordinates is refused.
        #expect(apply(.abortDecision(TransactionID(coordinator: 1, number: 9))).errorCode == .einval)
    }
}

/// The coordinator shard's state machine alone (shard 3), with one registered session, for the
/// decision rules: each operation applied at the next index, outside any session.
struct CoordinatorShard {
    var machine: MetadataStateMachine
    var index: UInt64 = 0
    var session: SessionID?

    init() throws {
        machine = MetadataStateMachine(config: MetadataConfig(shardID: 3, keying: try SegmentKeying(segmentCount: 8)))
        if case .success(.sessionRegistered(let id)) = apply(.registerSession) { session = id }
    }

    mutating func apply(_ operation: MetadataOperation) -> CommandResult {
        index += 1
        return machine.apply(CommandEnvelope(shardID: 3, sessionID: 0, sequence: 0, time: Timestamp(seconds: Int64(index)), operation: operation), at: index)
    }
}
