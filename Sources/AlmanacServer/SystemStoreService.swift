import AlmanacMetadata
import AlmanacRaft

/// One call on the system group's register (`system_store` requests).
public enum SystemStoreCall: Sendable, Hashable {
    case load
    case compareAndSwap(expectedRevision: UInt64, value: [UInt8])
    /// Wait until the key's revision exceeds `afterRevision`, at most `waitMilliseconds`.
    case watch(afterRevision: UInt64, waitMilliseconds: UInt32)
}

/// What a system store call found or did.
public struct SystemStoreOutcome: Sendable, Hashable {
    /// The key's record after the call (nil: absent).
    public var record: SystemRegister.Record?
    /// A compare-and-swap lost (nothing stored; `record` is the current one).
    public var conflict: Bool
    /// A watch: the retained versions newer than the caller's revision, oldest first.
    public var versions: [SystemRegister.Record]

    public init(record: SystemRegister.Record?, conflict: Bool = false, versions: [SystemRegister.Record] = []) {
        self.record = record
        self.conflict = conflict
        self.versions = versions
    }
}

/// A backend that hosts the system group (the embedded shard map store). The request executor
/// serves `system_store` requests through it; a backend without one answers UNSUPPORTED.
public protocol SystemStoreService: Sendable {
    func systemStore(key: String, call: SystemStoreCall) async throws(ServiceError) -> SystemStoreOutcome
}
