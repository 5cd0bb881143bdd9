import AlmanacMetadata

/// Runs an operation that spans shards (the shard's state machine answered `CROSS_SHARD`) as a
/// cross-shard transaction, with the client's session and sequence on `primary` (the shard the
/// request was routed to, whose journal holds the commit decision). See docs/sharding.md.
public protocol CrossShardExecutor: Sendable {
    func execute(
        _ operation: MetadataOperation, primary: ShardID, session: SessionRef,
        completion: @escaping @Sendable (Result<WriteOutcome, ServiceError>) -> Void)
}
