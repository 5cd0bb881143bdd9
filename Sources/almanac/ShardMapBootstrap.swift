import AlmanacKeyspace
import AlmanacNode
import AlmanacServer
import AlmanacShardMap
import ArgumentParser
import Foundation
import Logging

/// Where a node gets its shard map at start (`serve --shard-map`).
///
/// - `static` (the default, and `almanac dev`'s): every node computes the same initial map from the
///   shared configuration (shard count, members). The map has no store: it cannot change while
///   the cluster runs. (The embedded system-group store is not built yet: docs/sharding.md.)
/// - `etcd://host:port,...`: the map lives in etcd. The first node to start stores the initial map
///   (create-if-absent, a compare-and-swap on revision 0); every node loads it, validates it against
///   the member list, caches it in its data directory and watches etcd for newer versions. If etcd
///   is down at start, the cached copy serves (the data plane keeps running; map changes wait).
enum ShardMapBootstrap {
    struct Loaded: Sendable {
        var map: ShardMap
        var backend: String
        var store: EtcdShardMapStore?
        var revision: UInt64
    }

    static func load(option: String, file: NodeConfigFile, logger: Logger) async throws -> Loaded {
        let initial = try MetadataReplica.initialMap(shardCount: file.shards, members: file.members)
        guard option.hasPrefix("etcd://") else {
            guard option == "static" || option == "embedded" else {
                throw ValidationError("--shard-map must be static or etcd://host:port,...; got \"\(option)\"")
            }
            return Loaded(map: initial, backend: "static", store: nil, revision: 0)
        }
        let knownNodes = Dictionary(file.members.map { ($0.id, $0.zone) }, uniquingKeysWith: { first, _ in first })
        let store: EtcdShardMapStore
        do {
            store = try EtcdShardMapStore(url: option, clusterID: file.clusterID, attemptTimeout: .seconds(2), knownNodes: knownNodes)
        } catch {
            throw ValidationError("\(error)")
        }
        let cachePath = "\(file.dataDirectory)/shardmap.json"
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let reason: String
            do throws(ShardMapStoreError) {
                var versioned = try await store.load()
                if versioned == nil {
                    do throws(ShardMapStoreError) {
                        versioned = try await store.compareAndSwap(expectedRevision: 0, map: initial)
                        logger.notice("stored the initial shard map in etcd", metadata: ["epoch": "\(initial.epoch)"])
                    } catch {
                        guard case .conflict = error else { throw error }
                        versioned = try await store.load()  // another node stored it first
                    }
                }
                guard let versioned else { throw ShardMapStoreError.unavailable("the map vanished while loading") }
                try check(versioned.map, against: initial, knownNodes: knownNodes)
                try? JSONEncoder().encode(versioned.map).write(to: URL(fileURLWithPath: cachePath))
                return Loaded(map: versioned.map, backend: "etcd", store: store, revision: versioned.revision)
            } catch {
                guard case .unavailable(let why) = error else {
                    throw ValidationError("the shard map in etcd cannot be used: \(error)")
                }
                reason = why
            }
            if let data = FileManager.default.contents(atPath: cachePath), let cached = try? JSONDecoder().decode(ShardMap.self, from: data) {
                logger.warning("etcd unavailable; serving from the cached shard map", metadata: ["reason": "\(reason)", "epoch": "\(cached.epoch)"])
                return Loaded(map: cached, backend: "etcd (cached: unreachable)", store: store, revision: 0)
            }
            guard ContinuousClock.now < deadline else {
                throw ValidationError("etcd at \(option) is unavailable and no cached shard map exists: \(reason)")
            }
            logger.warning("etcd unavailable; retrying", metadata: ["reason": "\(reason)"])
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// A stored map must describe this cluster: the same keying and shards, known nodes in their zones.
    static func check(_ map: ShardMap, against initial: ShardMap, knownNodes: [NodeID: ZoneName]) throws(ShardMapStoreError) {
        guard map.keying == initial.keying else {
            throw .invalid("the stored map has \(map.keying.segmentCount) segments, this node \(initial.keying.segmentCount)")
        }
        do { try map.validate(knownNodes: knownNodes) } catch { throw .invalid(error.description) }
    }

    /// Follows newer maps: routing switches to them, the cache file is refreshed. If etcd cannot be
    /// watched yet (down at start), keeps trying every 2 s in the background until it can.
    static func watch(_ loaded: Loaded, live: LiveShardMap, file: NodeConfigFile, logger: Logger) -> Task<Void, Never>? {
        guard let store = loaded.store else { return nil }
        let knownNodes = Dictionary(file.members.map { ($0.id, $0.zone) }, uniquingKeysWith: { first, _ in first })
        let cachePath = "\(file.dataDirectory)/shardmap.json"
        let initial = loaded.map
        return Task {
            var warned = false
            while !Task.isCancelled {
                do {
                    let watch = try await store.watch(afterRevision: loaded.revision) { versioned in
                        do {
                            try check(versioned.map, against: initial, knownNodes: knownNodes)
                        } catch {
                            logger.error("ignoring an invalid shard map from etcd", metadata: ["revision": "\(versioned.revision)", "error": "\(error)"])
                            return
                        }
                        if live.update(versioned.map) {
                            try? JSONEncoder().encode(versioned.map).write(to: URL(fileURLWithPath: cachePath))
                            logger.notice("shard map changed", metadata: ["epoch": "\(versioned.map.epoch)", "revision": "\(versioned.revision)"])
                        }
                    }
                    if warned { logger.notice("watching the shard map in etcd again") }
                    // Held until the node stops (the store reconnects an established watch itself).
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                    watch.cancel()
                    return
                } catch {
                    if !warned {
                        logger.warning("cannot watch the shard map in etcd yet; routing keeps the loaded map, retrying", metadata: ["error": "\(error)"])
                        warned = true
                    }
                    try? await Task.sleep(for: .seconds(2))
                }
            }
        }
    }
}
