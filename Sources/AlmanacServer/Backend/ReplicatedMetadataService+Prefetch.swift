import AlmanacMetadata

extension ReplicatedMetadataService {
    /// A predictable write with prefetching on: a confirmation when an issued potential entry
    /// matches, the full entry otherwise or when the confirmation is refused (its entry was never
    /// committed, or expired); then the prefetcher learns from the served request.
    func submitPredicted(_ prefetcher: Prefetcher, shard: ShardID, operation: MetadataOperation, session: SessionRef,
                         durability: Durability, entry: [UInt8], completion: @escaping @Sendable (Result<WriteOutcome, ServiceError>) -> Void) {
        let loop = host.eventLoop
        let learn: @Sendable (Result<WriteOutcome, ServiceError>) -> Void = { result in
            completion(result)
            // Learning and predicting run after the reply, as their own task of the host loop (not
            // inside the apply of the batch that answered).
            if case .success(let outcome) = result {
                loop.execute { prefetcher.served(shard: shard, operation: operation, session: session, result: outcome.result) }
            }
        }
        guard let confirmation = prefetcher.confirmation(shard: shard, operation: operation, session: session) else {
            return propose(shard: shard, data: entry, operation: operation, session: session, durability: durability, completion: learn)
        }
        propose(shard: shard, data: confirmation, operation: operation, session: session, durability: durability) { [self] result in
            if case .success(let outcome) = result, outcome.result.errorCode == .conflict {
                prefetcher.confirmationFinished(shard: shard, answered: false, confirmBytes: confirmation.count, fullBytes: entry.count)
                return propose(shard: shard, data: entry, operation: operation, session: session, durability: durability, completion: learn)
            }
            if case .success = result {
                prefetcher.confirmationFinished(shard: shard, answered: true, confirmBytes: confirmation.count, fullBytes: entry.count)
            }
            learn(result)
        }
    }
}
