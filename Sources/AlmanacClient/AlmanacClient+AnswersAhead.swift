import AlmanacAnswersAhead
import AlmanacWire

/// A write acknowledged ahead of commit (async durability), kept until it is known durable.
struct UnconfirmedWrite: Sendable {
    /// The request as sent: its session and sequence make a replay exactly-once.
    var request: Almanac_Api_V1_Request
    /// The first answer: its log index and the leader term it was given in.
    var answer: Almanac_Api_V1_Response

    var session: UInt64 { request.sessionID }
}

/// Async durability on the client side (docs/api.md, "Async durability"), by the shared rules of
/// `AlmanacAnswersAhead.UnconfirmedWrites`: a write the leader acknowledged ahead of commit is kept
/// until a response of the same leader term reports its log durable past the write's index. A
/// response from a newer term means the leader changed while the write may not have been durable:
/// it is sent again with `replay` (same session and sequence, so it is applied at most once;
/// answered once durable). If the first leader committed it, the replay returns the recorded first
/// answer; if the write was lost with that leader, it is executed now.
extension AlmanacClient {
    /// Settles the shard's unconfirmed writes against `response` (a leader's answer carrying its
    /// term and durable index): durable ones are released, those of older terms are replayed.
    func settleUnconfirmed(shard: UInt16, by response: Almanac_Api_V1_Response) async {
        let settlement = unconfirmedWrites.settle(shard: shard, leaderTerm: response.leaderTerm, durableIndex: response.durableIndex)
        for pending in settlement.durable { releaseSequence(pending.sequence, shard: shard, session: pending.write.session) }
        for pending in settlement.replay { await replay(pending.write, shard: shard) }
    }

    /// Replays every unconfirmed write of `shard` (the shard's new leader is in its replay window):
    /// those the previous leader made durable answer their first result, the others are executed
    /// now, before this client's new writes.
    func replayUnconfirmed(shard: UInt16) async {
        for pending in unconfirmedWrites.takeAll(shard: shard) { await replay(pending.write, shard: shard) }
    }

    /// Sends `write` again to the shard's current leader and releases its sequence.
    private func replay(_ write: UnconfirmedWrite, shard: UInt16) async {
        var request = write.request
        request.replay = true
        var ambiguous = false
        defer { releaseSequence(write.request.sequence, shard: shard, session: write.session) }
        guard let again = try? await call(request, shard: shard, timeout: configuration.operationTimeout, ambiguous: &ambiguous) else {
            replayedWrites += 1
            replayedWritesChanged += 1  // its fate is now unknown to this client: counted as changed
            return
        }
        replayedWrites += 1
        if again.result != write.answer.result || again.error != write.answer.error { replayedWritesChanged += 1 }
    }

    /// Writes acknowledged ahead of commit that are not known durable yet, over all shards.
    public var unconfirmedWriteCount: Int { unconfirmedWrites.count }

    /// Asks `shard`'s leader for an answer at commit without using a sequence number (an
    /// unsequenced keep-alive of the session): its term and durable index settle the shard's
    /// unconfirmed writes. One at a time per shard.
    func confirmUnconfirmed(shard: UInt16) async {
        guard !confirming.contains(shard), let session = unconfirmedWrites.first(shard: shard)?.write.session else { return }
        confirming.insert(shard)
        defer { confirming.remove(shard) }
        var request = Almanac_Api_V1_Request()
        request.keepAlive = Almanac_Api_V1_KeepAliveRequest()
        request.sessionID = session
        request.sequence = 0
        request.durability = .majority
        var ambiguous = false
        guard let response = try? await call(request, shard: shard, timeout: configuration.operationTimeout, ambiguous: &ambiguous),
              response.leaderTerm != 0 else { return }
        await settleUnconfirmed(shard: shard, by: response)
    }

    /// Waits until every write acknowledged ahead of commit is known durable (or replayed).
    /// Returns whether none is left after `attempts` rounds.
    @discardableResult
    public func waitUntilDurable(attempts: Int = 20) async -> Bool {
        for _ in 0..<attempts where unconfirmedWriteCount > 0 {
            for shard in unconfirmedWrites.shards { await confirmUnconfirmed(shard: shard) }
        }
        return unconfirmedWriteCount == 0
    }
}
