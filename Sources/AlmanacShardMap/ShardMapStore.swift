import AlmanacKeyspace

/// A version of the map as a store holds it: the map plus the store's revision of it.
///
/// `revision` is the store's own version counter (etcd's `mod_revision`, the embedded system
/// group's log index); compare-and-swap compares it. The map's ``ShardMap/epoch`` is the
/// application-level version that requests and state machines carry.
public struct VersionedShardMap: Sendable, Hashable {
    public var map: ShardMap
    public var revision: UInt64

    public init(map: ShardMap, revision: UInt64) {
        self.map = map
        self.revision = revision
    }
}

/// Why a shard map store call failed.
public enum ShardMapStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The store cannot be reached or has no quorum; the caller keeps its cached map and retries.
    case unavailable(String)
    /// A compare-and-swap lost: the stored revision is not the expected one.
    case conflict(expected: UInt64, actual: UInt64)
    /// The stored record is not a valid map (malformed JSON, bad runs, unknown shards, ...).
    case malformed(String)
    /// The map names nodes that are not members, or is otherwise inconsistent with the cluster.
    case invalid(String)
    /// The store's address or options are wrong (e.g. a bad `etcd://` URL).
    case configuration(String)

    public var description: String {
        switch self {
        case .unavailable(let m): return "shard map store unavailable: \(m)"
        case .conflict(let expected, let actual): return "shard map changed concurrently (expected revision \(expected), found \(actual))"
        case .malformed(let m): return "malformed shard map record: \(m)"
        case .invalid(let m): return "invalid shard map: \(m)"
        case .configuration(let m): return "shard map store configuration: \(m)"
        }
    }
}

/// The shard map service's storage: one protocol, two real backends (the embedded system Raft
/// group, the default; and etcd, `--shard-map etcd://host:port,...`).
///
/// Updates are compare-and-swap on the store's revision; readers learn changes by watching.
public protocol ShardMapStore: Sendable {
    /// The backend's name for status output ("embedded", "etcd").
    var backendName: String { get }

    /// The current map, or nil if none was ever stored.
    func load() async throws(ShardMapStoreError) -> VersionedShardMap?

    /// Stores `map` if the stored revision is `expectedRevision` (0: only if nothing is stored).
    /// Returns the new version. Throws ``ShardMapStoreError/conflict(expected:actual:)`` when it lost.
    func compareAndSwap(expectedRevision: UInt64, map: ShardMap) async throws(ShardMapStoreError) -> VersionedShardMap

    /// Calls `onChange` with every version newer than `afterRevision`, in order, until the returned
    /// watch is cancelled. Implementations reconnect by themselves and deliver the newest version
    /// after a gap (a watcher needs the latest map, not every intermediate one).
    func watch(afterRevision: UInt64, onChange: @escaping @Sendable (VersionedShardMap) -> Void) async throws(ShardMapStoreError) -> ShardMapWatch

    /// Whether the store answers right now, and a short explanation ("3/3 members up", ...).
    func health() async -> ShardMapStoreHealth

    /// Stops the store's watches and releases its connections. Idempotent.
    func shutdown() async
}

/// A running watch; cancel it to stop notifications.
public protocol ShardMapWatch: Sendable {
    func cancel()
}

/// Result of ``ShardMapStore/health()``.
public struct ShardMapStoreHealth: Sendable, Hashable {
    public var healthy: Bool
    public var detail: String

    public init(healthy: Bool, detail: String) {
        self.healthy = healthy
        self.detail = detail
    }
}

/// A small record the store keeps beside the map for the control plane (the controller's lease, its
/// decision audit): opaque bytes with the store's revision of them.
public struct ControlRecord: Sendable, Hashable {
    public var bytes: [UInt8]
    public var revision: UInt64

    public init(bytes: [UInt8], revision: UInt64) {
        self.bytes = bytes
        self.revision = revision
    }
}

/// The records the control plane keeps in the map store, one key each per cluster.
public enum ControlRecordName: String, Sendable, Hashable, CaseIterable {
    /// Who runs the placement controller, until when (``AlmanacControl``'s `ControllerLease`).
    case controllerLease = "controller-lease"
    /// The controller's recent decisions, newest last.
    case controllerAudit = "controller-audit"
}

/// The control records of a map store: the same compare-and-swap discipline as the map, on
/// another key of the same store (so the controller needs nothing but the map store).
public protocol ControlRecordStore: Sendable {
    /// The record, or nil if none was ever stored.
    func loadRecord(_ name: ControlRecordName) async throws(ShardMapStoreError) -> ControlRecord?

    /// Stores `bytes` if the record's revision is `expectedRevision` (0: only if absent). Returns the
    /// new version; throws ``ShardMapStoreError/conflict(expected:actual:)`` when it lost.
    func compareAndSwapRecord(_ name: ControlRecordName, expectedRevision: UInt64, bytes: [UInt8]) async throws(ShardMapStoreError) -> ControlRecord
}
