import AlmanacRaft

/// A state machine a leader can run ahead of commit: applying the payload of a normal entry at
/// `index` is deterministic, so the result on a copy that applied the leader's log ahead of commit
/// is the result the commit will produce (docs/node.md, "Answers ahead of commit").
public protocol AheadApplicable: Sendable {
    /// What applying one entry produces (handed back to the proposer).
    associatedtype ApplyResult: Sendable

    /// Applies the payload of the normal entry at `index`. Must be deterministic.
    mutating func apply(_ data: [UInt8], at index: LogIndex) -> ApplyResult
}
