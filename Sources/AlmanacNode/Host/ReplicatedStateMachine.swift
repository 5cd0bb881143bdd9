import AlmanacAnswersAhead
import AlmanacRaft
import AlmanacWire

/// The application state machine of one Raft group, driven by ``MultiRaftHost``.
///
/// The host owns one value per hosted group and touches it only on its own event loop: it applies
/// committed entries in log order, takes snapshots for log compaction and restores from snapshots
/// received from the leader or found on disk at restart. Implementations are pure values (no I/O).
/// (`Sendable` so that reads can hand a copy to the caller's closure.)
public protocol ReplicatedStateMachine: Sendable {
    /// What applying one entry produces (handed back to the proposer).
    associatedtype ApplyResult: Sendable

    /// A fresh state machine for `group` (no entries applied).
    static func initial(group: GroupID) -> Self

    /// Restores the state a ``snapshotData()`` of `group` described.
    static func restore(group: GroupID, from data: [UInt8]) throws -> Self

    /// Applies the payload of the committed normal entry at `index` (never called for the empty
    /// no-op entries of new leaders or for configuration entries). Must be deterministic.
    mutating func apply(_ data: [UInt8], at index: LogIndex) -> ApplyResult

    /// A serialized snapshot of the whole state.
    func snapshotData() -> [UInt8]

    /// A digest of the state, equal on replicas that applied the same entries (convergence checks).
    var stateDigest: UInt64 { get }
}

/// A hosted state machine as the shared answers-ahead rules see it (`AlmanacAnswersAhead`).
struct AheadMachine<Machine: ReplicatedStateMachine>: AheadApplicable {
    var machine: Machine

    mutating func apply(_ data: [UInt8], at index: LogIndex) -> Machine.ApplyResult {
        machine.apply(data, at: index)
    }
}
