import AlmanacMetadata

/// What a cross-shard operation does on each shard, as the planner worked it out from reads.
struct TransactionPlan: Sendable {
    /// Steps per participant shard.
    var fragments: [ShardID: [TransactionStep]]
    /// With mkdir: the shard preparing the new directory first (its id is allocated there), and the
    /// parent's entry to add once the id is known.
    var newDirectory: NewDirectory?
    /// The result the client gets (and its session records) once the transaction commits.
    var outcome: OperationOutcome

    struct NewDirectory: Sendable {
        var shard: ShardID
        var step: TransactionStep
        var parent: InodeID
        var parentShard: ShardID
        var name: ByteString
        var attributes: @Sendable (InodeID) -> InodeAttributes
    }

    /// Participants in prepare order: ascending shard ids (prepare never waits on a lock, it fails
    /// with CONFLICT and the coordinator retries, so the order only needs to be deterministic).
    var participants: [ShardID] { fragments.keys.sorted() }
}

