import AlmanacKeyspace
import NIOConcurrencyHelpers

/// The shard map a node routes with, replaced when the shard map service announces a newer one
/// (the etcd backend's watch). Reads take an uncontended lock; never older than what it was.
public final class LiveShardMap: Sendable {
    private let state: NIOLockedValueBox<(map: ShardMap, backend: String)>

    public init(map: ShardMap, backend: String) {
        state = NIOLockedValueBox((map, backend))
    }

    public var current: ShardMap { state.withLockedValue { $0.map } }
    public var backend: String { state.withLockedValue { $0.backend } }

    /// The migration timestamp of `shard` (0: none, or no such shard), read without copying the map:
    /// every journal entry asks for it.
    public func migrationTimestamp(of shard: ShardID) -> UInt64 {
        state.withLockedValue { $0.map.shards[shard]?.migrationTimestamp ?? 0 }
    }

    private let storeHealth = NIOLockedValueBox<(healthy: Bool, detail: String)?>(nil)

    /// The map store's health as last probed (nil: never probed, or no store).
    public var health: (healthy: Bool, detail: String)? { storeHealth.withLockedValue { $0 } }

    public func setHealth(healthy: Bool, detail: String) { storeHealth.withLockedValue { $0 = (healthy, detail) } }

    private let observers = NIOLockedValueBox<[@Sendable (ShardMap) -> Void]>([])

    /// Calls `observer` with every map taken from now on (after the lock is released, in the order
    /// they were taken, on the updating thread: keep it short).
    public func observe(_ observer: @escaping @Sendable (ShardMap) -> Void) {
        observers.withLockedValue { $0.append(observer) }
    }

    /// Takes `map` if its epoch is newer; returns whether it did.
    @discardableResult
    public func update(_ map: ShardMap) -> Bool {
        let taken = state.withLockedValue { state in
            guard map.epoch > state.map.epoch else { return false }
            state.map = map
            return true
        }
        if taken {
            for observer in observers.withLockedValue({ $0 }) { observer(map) }
        }
        return taken
    }
}
