import AlmanacKeyspace
import AlmanacNode
import AlmanacShardMap

/// Why a shard creation did not finish.
public enum ShardCreationError: Error, Sendable, CustomStringConvertible {
    /// Bad input or no room (no free shard id, too few zones): nothing changed.
    case invalid(String)
    /// The map names the shard but its replicas did not all answer, or no leader came up in time.
    /// Nothing else refers to the shard yet; ``ShardCreationDriver/ensureFounded(_:)`` (any later
    /// split into it, `ctl reshard resume`) finishes the founding.
    case interrupted(String)

    public var description: String {
        switch self {
        case .invalid(let message): "invalid shard creation: \(message)"
        case .interrupted(let message): "shard creation interrupted: \(message)"
        }
    }
}

/// Creates shards (new Raft groups) at runtime, so that a split always has a target
/// (docs/migration.md "New shards at runtime").
///
/// Protocol:
///   1. **map**: define the shard (the next free id, one replica per zone on the least loaded
///      nodes) in the map by compare-and-swap, with an epoch bump. It owns no segment, so no
///      request is routed to it; the record is the intent.
///   2. **found**: ask each replica's node to found the group with the same first configuration
///      (`replica_admin found`, recorded durably on the node before the replica starts).
///   3. **leader**: wait until the group has elected a leader.
///
/// Failure cases: the driver dies after 1 (a shard in the map without groups: any later
/// ``ensureFounded(_:)`` sends step 2 again, which is idempotent); a node dies after recording the
/// founding (it restarts the replica with the same configuration); a node that is down during
/// step 2 (a majority suffices for a leader; ``ensureFounded(_:)`` founds the rest later, and until
/// then the group runs like one with a replica down). A hand-off into the shard runs only after
/// step 3, so no segment ever lands on a group without a leader.
public struct ShardCreationDriver: Sendable {
    public let transport: any ReplicaAdminTransport
    public let store: any ShardMapStore
    /// Map store attempts (each with backoff) before an update is given up as interrupted.
    public var attempts = 8
    /// How long step 3 waits for a leader.
    public var leaderTimeout: Duration = .seconds(20)
    /// A pause after each step (crash tests kill the driver between steps).
    public var stepPause: Duration = .zero
    /// Progress lines ("shard 3: defined in the map", ...).
    public var onProgress: (@Sendable (String) -> Void)?
    let pause: @Sendable (Duration) async -> Void

    public init(transport: any ReplicaAdminTransport, store: any ShardMapStore,
                pause: @escaping @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }) {
        self.transport = transport
        self.store = store
        self.pause = pause
    }

    /// A split's target: a shard the map names that owns no segments and is moving nothing
    /// (founded first, in case its creation was interrupted), else a new shard.
    public func splitTarget(members: [NodeID: ZoneName]) async throws -> ShardID {
        let map = try await load()
        let owning = Set(map.owners)
        let busy = Set(map.handoffs.flatMap { [$0.source, $0.target] }).union(map.migrations.map(\.shard))
        if let empty = map.shards.keys.filter({ !owning.contains($0) && !busy.contains($0) }).sorted().first {
            try await ensureFounded(empty)
            return empty
        }
        return try await createShard(members: members)
    }

    /// Steps 1-3: a new shard that owns no segments, with a leader.
    public func createShard(members: [NodeID: ZoneName]) async throws -> ShardID {
        let updater = ShardMapUpdater(store: store, attempts: attempts, pause: pause)
        for _ in 0..<max(1, attempts) {
            let current = try await load()
            guard let id = current.nextShardID else { throw ShardCreationError.invalid("no shard id is left") }
            let perShard = current.shards.values.map(\.replicas.count).max() ?? 3
            let replicas = current.placementForNewShard(members: members, replicasPerShard: perShard)
            guard replicas.count == perShard else {
                throw ShardCreationError.invalid("a new shard needs \(perShard) zones with a node; the members span \(replicas.count)")
            }
            let stored: ShardMap
            do {
                stored = try await updater.update { (map) throws(KeyspaceError) -> Bool in
                    // Re-run after an unknown outcome: our own record is already there.
                    if let existing = map.shards[id] {
                        guard existing.replicas == replicas else { throw KeyspaceError.invalid("shard \(id) was defined by another driver") }
                        return false
                    }
                    try map.addShard(id, replicas: replicas)
                    return true
                }
            } catch MapUpdateFailure.invalid(let reason) where reason.contains("another driver") || reason.contains("not the next free") {
                continue  // another creator took the id: pick the next one
            } catch MapUpdateFailure.invalid(let reason) {
                throw ShardCreationError.invalid(reason)
            } catch MapUpdateFailure.interrupted(let reason) {
                throw ShardCreationError.interrupted(reason)
            }
            guard stored.shards[id]?.replicas == replicas else { continue }
            onProgress?("shard \(id): defined in the map (map epoch \(stored.epoch)), replicas "
                + replicas.map { "node \($0.node) (\($0.zone))" }.joined(separator: ", "))
            await pause(stepPause)
            try await found(id, replicas: replicas)
            return id
        }
        throw ShardCreationError.interrupted("the map kept changing under \(attempts) attempts")
    }

    /// Steps 2-3 for a shard the map names: founds its group on every replica's node and waits for
    /// a leader. Idempotent: a node whose replica runs answers with it, so a shard whose group runs
    /// everywhere is left as it is, and one a dead driver founded on some nodes only is completed.
    public func ensureFounded(_ shard: ShardID) async throws {
        let map = try await load()
        guard let record = map.shards[shard] else { throw ShardCreationError.invalid("the map names no shard \(shard)") }
        try await found(shard, replicas: record.replicas)
    }

    private func found(_ shard: ShardID, replicas: [ReplicaLocation]) async throws {
        let voters = replicas.map(\.node).sorted()
        var founded: [NodeID] = []
        var failures: [String] = []
        for replica in replicas {
            // The node learns the shard from the map watch: a refusal right after step 1 is retried.
            var outcome: Result<ReplicaConfiguration?, ReplicaAdminFailure> = .failure(.unknown("not sent"))
            for attempt in 0..<max(1, attempts) {
                outcome = await transport.replicaAdmin(shard: shard, call: .found(voters: voters), on: replica.node)
                if case .success = outcome { break }
                if attempt + 1 < attempts { await pause(.milliseconds(100 << min(attempt, 4))) }
            }
            switch outcome {
            case .success:
                founded.append(replica.node)
                onProgress?("shard \(shard): founded on node \(replica.node)")
            case .failure(let failure):
                failures.append("node \(replica.node): \(failure)")
            }
            await pause(stepPause)
        }
        guard founded.count * 2 > voters.count else {
            throw ShardCreationError.interrupted("shard \(shard) founded on \(founded.count) of \(voters.count) nodes (\(failures.joined(separator: "; ")))")
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: leaderTimeout)
        while clock.now < deadline {
            if case .success(let view?) = await transport.replicaAdmin(shard: shard, call: .configuration, on: nil), view.leader != 0 {
                onProgress?("shard \(shard): led by node \(view.leader)" + (failures.isEmpty ? "" : " (not founded yet: \(failures.joined(separator: "; ")))"))
                return
            }
            await pause(.milliseconds(100))
        }
        throw ShardCreationError.interrupted("shard \(shard) elected no leader within \(leaderTimeout)")
    }

    private func load() async throws -> ShardMap {
        do {
            return try await ShardMapUpdater(store: store, attempts: attempts, pause: pause).load().map
        } catch MapUpdateFailure.invalid(let reason) {
            throw ShardCreationError.invalid(reason)
        } catch MapUpdateFailure.interrupted(let reason) {
            throw ShardCreationError.interrupted(reason)
        }
    }
}
