/// A batch of work the driver (the shell) must perform, then acknowledge with `RaftNode.advance(_:)`.
///
/// Order of work for one `Ready`:
/// 1. `messages` may be sent at once, in parallel with persisting (they acknowledge nothing).
/// 2. Persist `snapshot`, `entries` and `hardState` (if set); fsync if `mustSync`.
/// 3. Only then send `messagesAfterPersist` (votes granted, append acks, ...).
/// 4. Apply `snapshot` (if set), then `committedEntries` in order, to the state machine.
/// 5. Serve `readStates` once the state machine has applied their index.
/// 6. Call `advance(ready)`.
///
/// Step 4 may also run before step 2 completes: `committedEntries` are already durable on a
/// majority, so a driver may apply them (and answer their proposers) while this Ready persists.
/// Only `messagesAfterPersist` must wait for durability.
public struct Ready: Sendable {
    /// Set when leader or role changed since the last Ready.
    public var softState: SoftState?
    /// Set when term, vote or commit changed since the last Ready.
    public var hardState: HardState?
    /// Entries to append to durable storage. May overwrite a conflicting suffix: truncate from `entries.first.index`.
    public var entries: [Entry]
    /// A snapshot to persist and install (received from the leader).
    public var snapshot: Snapshot?
    /// Committed entries to apply, in order.
    public var committedEntries: [Entry]
    /// Messages safe to send before this Ready is persisted.
    public var messages: [Message]
    /// Messages that must not leave before this Ready's entries, hard state and snapshot are durable.
    public var messagesAfterPersist: [Message]
    /// Linearizable reads that became ready.
    public var readStates: [ReadState]
    /// Whether the persisted parts must be synced (fsync) before `messagesAfterPersist` are sent.
    public var mustSync: Bool

    public init(softState: SoftState? = nil, hardState: HardState? = nil, entries: [Entry] = [],
                snapshot: Snapshot? = nil, committedEntries: [Entry] = [], messages: [Message] = [],
                messagesAfterPersist: [Message] = [], readStates: [ReadState] = [], mustSync: Bool = false) {
        self.softState = softState
        self.hardState = hardState
        self.entries = entries
        self.snapshot = snapshot
        self.committedEntries = committedEntries
        self.messages = messages
        self.messagesAfterPersist = messagesAfterPersist
        self.readStates = readStates
        self.mustSync = mustSync
    }

    /// True when there is nothing to do.
    public var isEmpty: Bool {
        softState == nil && hardState == nil && entries.isEmpty && snapshot == nil && committedEntries.isEmpty
            && messages.isEmpty && messagesAfterPersist.isEmpty && readStates.isEmpty
    }
}
