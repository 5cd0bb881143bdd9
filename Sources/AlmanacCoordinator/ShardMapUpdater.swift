import AlmanacKeyspace
import AlmanacShardMap

/// Why a map read or update of a protocol driver did not happen.
enum MapUpdateFailure: Error, Sendable {
    /// The change itself is refused (bad input): nothing changed.
    case invalid(String)
    /// The store did not answer in `attempts` tries; the outcome of the last update is unknown.
    case interrupted(String)
}

/// The shard map reads and compare-and-swap updates the protocol drivers (segment hand-off, replica
/// migration) share: retried with backoff while the store does not answer, re-run on a fresh map
/// after a lost race.
///
/// Declared with untyped `throws` (they throw only ``MapUpdateFailure``): see
/// ``SegmentHandoffDriver`` on async typed throws in release builds.
struct ShardMapUpdater: Sendable {
    let store: any ShardMapStore
    let attempts: Int
    let pause: @Sendable (Duration) async -> Void

    func load() async throws -> VersionedShardMap {
        var last = ""
        for attempt in 0..<max(1, attempts) {
            do {
                guard let current = try await store.load() else { throw MapUpdateFailure.invalid("the shard map store holds no map") }
                return current
            } catch let error as MapUpdateFailure {
                throw error
            } catch {
                last = "\(error)"
                if attempt + 1 < attempts { await pause(.milliseconds(100 << min(attempt, 4))) }
            }
        }
        throw MapUpdateFailure.interrupted("loading the shard map: \(last)")
    }

    /// Applies `change` to the stored map by compare-and-swap; `change` answers whether it changed
    /// anything (it is re-run on a fresh map after a lost race or an unknown outcome, so it must
    /// recognise its own earlier success). Returns the map as stored afterwards.
    func update(_ change: (inout ShardMap) throws(KeyspaceError) -> Bool) async throws -> ShardMap {
        var last = ""
        for attempt in 0..<max(1, attempts) {
            let current = try await load()
            var map = current.map
            do {
                guard try change(&map) else { return current.map }
            } catch {
                throw MapUpdateFailure.invalid(error.description)
            }
            do {
                return try await store.compareAndSwap(expectedRevision: current.revision, map: map).map
            } catch {
                last = "\(error)"
                if case .conflict = error { continue }
                if attempt + 1 < attempts { await pause(.milliseconds(100 << min(attempt, 4))) }
            }
        }
        throw MapUpdateFailure.interrupted("updating the shard map: \(last)")
    }
}
