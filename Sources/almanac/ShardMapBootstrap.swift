import AlmanacClient
import AlmanacKeyspace
import AlmanacNode
import AlmanacServer
import AlmanacShardMap
import ArgumentParser
import Foundation
import Logging

/// Where a node gets its shard map at start (`serve --shard-map`).
///
/// - `embedded` (the default, and `almanac dev`'s): the map lives in the cluster's system Raft
///   group (``EmbeddedShardMapStore``). A node starts routing with its cached copy (or the map
///   every node computes from the shared configuration), joins the system group with its shards,
///   and once its API serves, stores the initial map if none is stored yet (create-if-absent),
///   loads the stored one and watches it.
/// - `static`: every node computes the same initial map from the shared configuration; no store,
///   so the map cannot change while the cluster runs.
/// - `etcd://host:port,...`: the map lives in etcd. The first node to start stores the initial map
///   (create-if-absent, a compare-and-swap on revision 0); every node loads it, validates it against
///   the member list, caches it in its data directory and watches etcd for newer versions. If etcd
///   is down at start, the cached copy serves (the data plane keeps running; map changes wait).
enum ShardMapBootstrap {
    struct Loaded: Sendable {
        var map: ShardMap
        var backend: String
        var store: (any ShardMapStore)?
        var revision: UInt64
        /// The map lives in the system group (its store is made once the node serves).
        var embedded = false
    }

    static func load(option: String, file: NodeConfigFile, logger: Logger) async throws -> Loaded {
        let initial = try MetadataReplica.initialMap(shardCount: file.shards, members: file.members)
        let knownNodes = Self.knownNodes(file)
        let cachePath = "\(file.dataDirectory)/shardmap.json"
        guard option.hasPrefix("etcd://") else {
            switch option {
            case "static":
                return Loaded(map: initial, backend: "static", store: nil, revision: 0)
            case "embedded":
                // Route with the newest map this node saw (its cache), else the configuration's.
                var map = initial
                if let data = FileManager.default.contents(atPath: cachePath),
                   let cached = try? JSONDecoder().decode(ShardMap.self, from: data), cached.epoch >= initial.epoch {
                    do throws(ShardMapStoreError) {
                        try check(cached, against: initial, knownNodes: knownNodes)
                        map = cached
                    } catch {
                        logger.warning("ignoring the cached shard map", metadata: ["error": "\(error)"])
                    }
                }
                return Loaded(map: map, backend: "embedded", store: nil, revision: 0, embedded: true)
            default:
                throw ValidationError("--shard-map must be embedded, static or etcd://host:port,...; got \"\(option)\"")
            }
        }
        let store: EtcdShardMapStore
        do {
            store = try EtcdShardMapStore(url: option, clusterID: file.clusterID, attemptTimeout: .seconds(2), knownNodes: knownNodes)
        } catch {
            throw ValidationError("\(error)")
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let reason: String
            do throws(ShardMapStoreError) {
                var versioned = try await store.load()
                if versioned == nil {
                    // A node joining a running cluster never founds its map.
                    guard !file.joinedAtRuntime else {
                        throw ShardMapStoreError.invalid("etcd holds no shard map under cluster id \(file.clusterID); a joining node needs a running cluster")
                    }
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

    static func knownNodes(_ file: NodeConfigFile) -> [NodeID: ZoneName] {
        Dictionary(file.knownMembers.map { ($0.id, $0.zone) }, uniquingKeysWith: { first, _ in first })
    }

    /// The stored map, for a node joining a running cluster (it must be listed there, and learns
    /// the other members added before it). Embedded: read from the system group through the
    /// founding members' client endpoints, retried for 30 s; etcd: what ``load(option:file:logger:)``
    /// read (not a cached copy).
    static func loadForJoin(_ loaded: Loaded, file: NodeConfigFile, client: AlmanacClientConfiguration, logger: Logger) async throws -> ShardMap {
        guard loaded.embedded else {
            guard loaded.store != nil, loaded.revision != 0 else {
                throw ShardMapStoreError.unavailable("the shard map store did not answer, and a joining node needs the stored map")
            }
            return loaded.map
        }
        let store = try EmbeddedShardMapStore(client: client, clusterID: file.clusterID, knownNodes: knownNodes(file))
        defer { Task { await store.shutdown() } }
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do throws(ShardMapStoreError) {
                // A cluster that just started stores its first map moments after it serves.
                guard let versioned = try await store.load() else {
                    throw ShardMapStoreError.unavailable("the cluster stores no shard map under cluster id \(file.clusterID) (yet): is it running?")
                }
                return versioned.map
            } catch {
                guard case .unavailable = error, ContinuousClock.now < deadline else { throw error }
                logger.warning("the cluster's shard map store does not answer yet; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// The embedded backend, once the node serves: a store over the cluster's client endpoints;
    /// in the background, stores the initial map if none is stored (create-if-absent), switches
    /// routing to the stored map, then watches it. Returns the store and the task.
    static func startEmbedded(_ loaded: Loaded, live: LiveShardMap, file: NodeConfigFile, client: AlmanacClientConfiguration,
                              logger: Logger) throws -> (store: EmbeddedShardMapStore, task: Task<Void, Never>)
    {
        let store = try EmbeddedShardMapStore(client: client, clusterID: file.clusterID, knownNodes: knownNodes(file))
        let initial = try MetadataReplica.initialMap(shardCount: file.shards, members: file.members)
        let cachePath = "\(file.dataDirectory)/shardmap.json"
        let task = Task {
            var warned = false
            var stored: VersionedShardMap?
            while !Task.isCancelled, stored == nil {
                do throws(ShardMapStoreError) {
                    var versioned = try await store.load()
                    if versioned == nil {
                        do throws(ShardMapStoreError) {
                            versioned = try await store.compareAndSwap(expectedRevision: 0, map: initial)
                            logger.notice("stored the initial shard map in the system group", metadata: ["epoch": "\(initial.epoch)"])
                        } catch {
                            guard case .conflict = error else { throw error }
                            versioned = try await store.load()  // another node stored it first
                        }
                    }
                    guard let versioned else { throw ShardMapStoreError.unavailable("the map vanished while loading") }
                    try check(versioned.map, against: initial, knownNodes: knownNodes(file))
                    if live.update(versioned.map) {
                        try? JSONEncoder().encode(versioned.map).write(to: URL(fileURLWithPath: cachePath))
                    }
                    stored = versioned
                } catch {
                    if !warned {
                        logger.warning("the system group does not serve the shard map yet; routing keeps the loaded map, retrying",
                                       metadata: ["error": "\(error)"])
                        warned = true
                    }
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
            guard let stored else { return }
            var following = loaded
            following.store = store
            following.revision = stored.revision
            await watch(following, live: live, file: file, logger: logger)?.value
        }
        return (store, task)
    }

    /// Probes the store's health every `interval` for status output (`ctl status`).
    static func probeHealth(_ store: any ShardMapStore, live: LiveShardMap, interval: Duration = .seconds(5)) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                let health = await store.health()
                live.setHealth(healthy: health.healthy, detail: health.detail)
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Follows newer maps: routing switches to them, the cache file is refreshed. If the store cannot
    /// be watched yet (etcd down at start), keeps trying every 2 s in the background until it can.
    static func watch(_ loaded: Loaded, live: LiveShardMap, file: NodeConfigFile, logger: Logger) -> Task<Void, Never>? {
        guard let store = loaded.store else { return nil }
        let knownNodes = knownNodes(file)
        let cachePath = "\(file.dataDirectory)/shardmap.json"
        let initial = loaded.map
        let backend = store.backendName
        return Task {
            var warned = false
            while !Task.isCancelled {
                do {
                    let watch = try await store.watch(afterRevision: loaded.revision) { versioned in
                        do {
                            try check(versioned.map, against: initial, knownNodes: knownNodes)
                        } catch {
                            logger.error("ignoring an invalid shard map from the \(backend) store", metadata: ["revision": "\(versioned.revision)", "error": "\(error)"])
                            return
                        }
                        if live.update(versioned.map) {
                            try? JSONEncoder().encode(versioned.map).write(to: URL(fileURLWithPath: cachePath))
                            logger.notice("shard map changed", metadata: ["epoch": "\(versioned.map.epoch)", "revision": "\(versioned.revision)"])
                        }
                    }
                    if warned { logger.notice("watching the shard map in the \(backend) store again") }
                    // Held until the node stops (the store reconnects an established watch itself).
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                    watch.cancel()
                    return
                } catch {
                    if !warned {
                        logger.warning("cannot watch the shard map in the \(backend) store yet; routing keeps the loaded map, retrying", metadata: ["error": "\(error)"])
                        warned = true
                    }
                    try? await Task.sleep(for: .seconds(2))
                }
            }
        }
    }
}
