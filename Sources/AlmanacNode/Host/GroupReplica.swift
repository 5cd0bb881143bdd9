import AlmanacAnswersAhead
import AlmanacRaft
import AlmanacStorage
import NIOCore

/// A proposal waiting for its entry to be applied.
struct ProposalWaiter<Result: Sendable> {
    var term: Term
    var promise: EventLoopPromise<AppliedResult<Result>>
    /// When the proposer stops waiting (checked on every tick).
    var deadline: NIODeadline
    var timeout: TimeAmount
    /// Proposed ahead of any request (a potential journal entry): not counted as request load
    /// (``RequestBacklogGauge``).
    var speculative = false
}

/// A speculative proposal (a potential journal entry) held back until a replication round goes out
/// anyway: the group's next request, or the next tick (``HostCore``, "speculative proposals ride").
struct HeldProposal<Result: Sendable> {
    var data: [UInt8]
    var timeout: TimeAmount
    var promise: EventLoopPromise<AppliedResult<Result>>
}

/// A linearizable read waiting for its ReadIndex, then for the state machine to reach it.
struct ReadWaiter<Machine> {
    /// The read index once Raft confirmed it.
    var index: LogIndex?
    var serve: (Machine, LogIndex) -> Void
    var fail: (HostError) -> Void
    /// When the reader stops waiting (checked on every tick).
    var deadline: NIODeadline
    var timeout: TimeAmount
}

struct SnapshotKey: Hashable {
    var index: LogIndex
    var term: Term
}

/// One group hosted on this node: its Raft replica, its state machine and what waits on them.
/// Confined to the host's event loop.
final class GroupReplica<Machine: ReplicatedStateMachine> {
    let id: UInt64
    var raft: RaftNode
    var machine: Machine
    var applied: LogIndex
    var appliedTerm: Term
    var snapshotIndex: LogIndex
    var role: RaftRole = .follower
    var leader: NodeID = 0
    var quiesced = false
    var idleTicks = 0
    var proposals: [LogIndex: ProposalWaiter<Machine.ApplyResult>] = [:]
    /// Speculative proposals waiting for a round to ride (leader only; oldest first).
    var heldSpeculative: [HeldProposal<Machine.ApplyResult>] = []
    /// Async writes answered ahead of commit, and the state ahead they are answered from.
    var ahead = AnswersAhead<AheadMachine<Machine>>()
    /// When this replica last became the group's leader (its replay window runs from there).
    var leadingSince: NIODeadline?
    var reads: [UInt64: ReadWaiter<Machine>] = [:]
    /// Linearizable reads share ReadIndex rounds: one in flight, the next collects the reads meanwhile.
    var readBatcher = ReadIndexBatcher()
    /// The hard state last handed to the WAL, and a newer commit index riding along with the
    /// group's next entries instead of costing an fdatasync of its own (``HardStateWrites``).
    var hardStates: HardStateWrites
    /// A snapshot written to the snapshot store, to be recorded (with compaction) in the next batch.
    var pendingCheckpoint: (snapshot: Snapshot, reference: SnapshotReference)?
    /// A checkpoint is being encoded and written off the loop.
    var checkpointEncoding = false
    /// The checkpoint in the batch being written; Raft compacts once it is durable.
    var checkpointInFlight: Snapshot?
    /// Snapshot files known to be in the snapshot store, by (index, term): sending reads them in chunks.
    var snapshotFiles: [SnapshotKey: SnapshotReference] = [:]
    /// A snapshot being written to the store off the loop, to be sent once it is there.
    var snapshotFileWriting: SnapshotKey?
    /// A snapshot arriving in chunks: the receiver and the first chunk's message (the template).
    var incomingSnapshot: (receiver: SnapshotReceiver, template: Message)?
    /// A snapshot fully received and verified, waiting for Raft to hand it out in a Ready.
    var receivedSnapshot: SnapshotReference?
    /// A received snapshot being verified and decoded off the loop.
    var preparingSnapshot: SnapshotKey?
    /// The state machine decoded from `receivedSnapshot` off the loop, installed with it.
    var restoredSnapshot: (key: SnapshotKey, machine: Machine)?
    /// Bytes of snapshot chunks sent for this group (resends included), per receiving node (replica
    /// migration progress).
    var snapshotBytesSent: [NodeID: UInt64] = [:]
    /// Snapshot transfers of this group since the host started: started to lagging followers, and
    /// received and installed here.
    var snapshotsSent: UInt64 = 0
    var snapshotsInstalled: UInt64 = 0

    init(id: UInt64, raft: RaftNode, machine: Machine, applied: LogIndex, appliedTerm: Term) {
        let status = raft.status
        self.hardStates = HardStateWrites(written: HardState(term: status.term, vote: status.vote, commit: status.commit))
        self.id = id
        self.raft = raft
        self.machine = machine
        self.applied = applied
        self.appliedTerm = appliedTerm
        self.snapshotIndex = applied
    }

    var pendingRequests: Int { proposals.count + reads.count }
}
