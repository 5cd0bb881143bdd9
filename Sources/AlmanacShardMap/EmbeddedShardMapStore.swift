import AlmanacClient
import AlmanacKeyspace
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The shard map in the cluster's own system Raft group (the default backend, docs/sharding.md).
///
/// - The system group (``SystemGroup/groupID``) is replicated like a shard, one voter per zone,
///   and journals a ``SystemRegister``: key → record, each with the revision (log index) that
///   wrote it. The map's JSON (``ShardMapRecord``) is the record of `shardmap/<clusterID>`.
/// - This store is a client of that group through the client protocol (`system_store`
///   requests), so it works the same from a node, from `ctl` and from a test: any endpoint takes
///   the call and redirects it to the group's leader.
/// - Loads are linearizable (ReadIndex on the leader). Updates are compare-and-swap on the
///   revision, decided by the replicated log. Watches are long polls answered by the leader as
///   soon as the record changes (woken by the apply, not by a timer), delivering every retained
///   version in order.
///
/// Call ``shutdown()`` when done.
public final class EmbeddedShardMapStore: ShardMapStore, ControlRecordStore {
    public let backendName = "embedded"
    /// The register key of this cluster's map.
    public let key: String
    private let clusterID: String
    public let knownNodes: [NodeID: ZoneName]?
    private let calls: AlmanacClient
    private let watches: AlmanacClient
    private let watchWait: Duration
    private let tasks = NIOLockedValueBox(WatchTasks())

    private struct WatchTasks {
        var nextID = 0
        var running: [Int: Task<Void, Never>] = [:]
        var shutDown = false
    }

    /// A store over the cluster reachable at `endpoints` ("host:port" client addresses).
    /// `callTimeout` bounds each load and compare-and-swap, retries and redirects included; a
    /// group without a majority fails calls with ``ShardMapStoreError/unavailable(_:)`` after it.
    public convenience init(endpoints: [String], clusterID: String, knownNodes: [NodeID: ZoneName]? = nil,
                            callTimeout: Duration = .seconds(5), watchWait: Duration = .seconds(5)) throws(ShardMapStoreError) {
        try self.init(client: AlmanacClientConfiguration(endpoints: endpoints), clusterID: clusterID, knownNodes: knownNodes,
                      callTimeout: callTimeout, watchWait: watchWait)
    }

    /// A store whose connections are made as `client` says (endpoints, TLS, access token); its
    /// timeouts and hedging are the store's own.
    public init(client: AlmanacClientConfiguration, clusterID: String, knownNodes: [NodeID: ZoneName]? = nil,
                callTimeout: Duration = .seconds(5), watchWait: Duration = .seconds(5)) throws(ShardMapStoreError) {
        let endpoints = client.endpoints
        guard !endpoints.isEmpty else { throw .configuration("the embedded shard map store needs at least one endpoint") }
        guard !clusterID.isEmpty else { throw .configuration("the embedded shard map store needs a cluster id") }
        key = "shardmap/\(clusterID)"
        self.clusterID = clusterID
        self.knownNodes = knownNodes
        self.watchWait = watchWait
        let callNanos = Int64(callTimeout.components.seconds) * 1_000_000_000 + callTimeout.components.attoseconds / 1_000_000_000
        var callConfiguration = client
        callConfiguration.attemptTimeout = .nanoseconds(max(1, callNanos / 2))
        callConfiguration.operationTimeout = .nanoseconds(callNanos)
        callConfiguration.connectTimeout = .milliseconds(500)
        callConfiguration.maxBackoff = .milliseconds(200)
        callConfiguration.clientName = "shard-map-store"
        calls = AlmanacClient(configuration: callConfiguration)
        let waitNanos = Int64(watchWait.components.seconds) * 1_000_000_000 + watchWait.components.attoseconds / 1_000_000_000
        var watchConfiguration = callConfiguration
        watchConfiguration.attemptTimeout = .nanoseconds(waitNanos) + .seconds(2)
        watchConfiguration.operationTimeout = .nanoseconds(waitNanos) + .seconds(4)
        watchConfiguration.hedgeDelay = nil  // a long poll is not a hung request
        watchConfiguration.clientName = "shard-map-watch"
        watches = AlmanacClient(configuration: watchConfiguration)
    }

    /// Stops every watch and closes the connections. Idempotent.
    public func shutdown() async {
        let running = tasks.withLockedValue { state in
            state.shutDown = true
            defer { state.running.removeAll() }
            return Array(state.running.values)
        }
        for task in running { task.cancel() }
        // Closing the clients fails a long poll in flight, so the watch tasks end at once.
        await calls.shutdown()
        await watches.shutdown()
        for task in running { await task.value }
    }

    // MARK: - ShardMapStore

    public func load() async throws(ShardMapStoreError) -> VersionedShardMap? {
        let record: SystemStoreRecord?
        do {
            record = try await calls.systemStoreLoad(key: key)
        } catch {
            throw Self.storeError(error)
        }
        guard let record else { return nil }
        return VersionedShardMap(map: try decode(record), revision: record.revision)
    }

    public func compareAndSwap(expectedRevision: UInt64, map: ShardMap) async throws(ShardMapStoreError) -> VersionedShardMap {
        if let knownNodes {
            do { try map.validate(knownNodes: knownNodes) } catch { throw .invalid(error.description) }
        }
        let bytes = try ShardMapRecord.encode(map)
        return VersionedShardMap(map: map, revision: try await swapValue(key: key, expectedRevision: expectedRevision, bytes: bytes))
    }

    /// One compare-and-swap of a register key, decided in the system group's log. Returns the new
    /// revision; throws a conflict naming the current one.
    func swapValue(key: String, expectedRevision: UInt64, bytes: [UInt8]) async throws(ShardMapStoreError) -> UInt64 {
        let outcome: Result<SystemStoreRecord, SystemStoreConflict>
        do {
            outcome = try await calls.systemStoreCompareAndSwap(key: key, expectedRevision: expectedRevision, value: bytes)
        } catch {
            throw Self.storeError(error)
        }
        switch outcome {
        case .success(let record):
            return record.revision
        case .failure(let conflict):
            let actual = conflict.current?.revision ?? 0
            // A retried attempt whose first try committed finds its own bytes at a newer revision.
            if let current = conflict.current, current.value == bytes, actual > expectedRevision {
                return actual
            }
            throw .conflict(expected: expectedRevision, actual: actual)
        }
    }

    // MARK: - ControlRecordStore

    /// The register key of a control record: `<name>/<clusterID>`, beside `shardmap/<clusterID>`.
    func recordKey(_ name: ControlRecordName) -> String { "\(name.rawValue)/\(clusterID)" }

    public func loadRecord(_ name: ControlRecordName) async throws(ShardMapStoreError) -> ControlRecord? {
        do {
            return try await calls.systemStoreLoad(key: recordKey(name)).map { ControlRecord(bytes: $0.value, revision: $0.revision) }
        } catch {
            throw Self.storeError(error)
        }
    }

    public func compareAndSwapRecord(_ name: ControlRecordName, expectedRevision: UInt64, bytes: [UInt8]) async throws(ShardMapStoreError) -> ControlRecord {
        ControlRecord(bytes: bytes, revision: try await swapValue(key: recordKey(name), expectedRevision: expectedRevision, bytes: bytes))
    }

    public func watch(afterRevision: UInt64, onChange: @escaping @Sendable (VersionedShardMap) -> Void) async throws(ShardMapStoreError) -> ShardMapWatch {
        let watch = EmbeddedShardMapWatch()
        let started = tasks.withLockedValue { state -> Bool in
            guard !state.shutDown else { return false }
            let id = state.nextID
            state.nextID += 1
            let task = Task { [self] in
                await follow(afterRevision: afterRevision, watch: watch, onChange: onChange)
                _ = tasks.withLockedValue { $0.running.removeValue(forKey: id) }
            }
            state.running[id] = task
            watch.attach(task)
            return true
        }
        guard started else { throw .unavailable("the store is shut down") }
        return watch
    }

    public func health() async -> ShardMapStoreHealth {
        do {
            let record = try await calls.systemStoreLoad(key: key)
            return ShardMapStoreHealth(healthy: true, detail: "system group answered (map revision \(record?.revision ?? 0))")
        } catch {
            return ShardMapStoreHealth(healthy: false, detail: "system group: \(error.message)")
        }
    }

    // MARK: - Internals

    /// The watch loop: long polls from the last delivered revision; well-formed versions are
    /// delivered in order, malformed ones skipped (and logged by whoever loads them).
    private func follow(afterRevision: UInt64, watch: EmbeddedShardMapWatch, onChange: @escaping @Sendable (VersionedShardMap) -> Void) async {
        var after = afterRevision
        while !Task.isCancelled {
            let versions: [SystemStoreRecord]
            do {
                versions = try await watches.systemStoreWatch(key: key, afterRevision: after, wait: watchWait)
            } catch {
                watch.noteProblem(error.message)
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            for record in versions where record.revision > after {
                after = record.revision
                guard let map = try? decode(record) else { continue }
                guard !Task.isCancelled, !watch.isCancelled else { return }
                onChange(VersionedShardMap(map: map, revision: record.revision))
            }
        }
    }

    private func decode(_ record: SystemStoreRecord) throws(ShardMapStoreError) -> ShardMap {
        let source = "system group \(key)@\(record.revision)"
        guard !record.value.isEmpty else { throw .malformed("\(source): empty value") }
        return try ShardMapRecord.decode(record.value, source: source)
    }

    static func storeError(_ error: AlmanacClientError) -> ShardMapStoreError {
        switch error.kind {
        case .unavailable, .timeout: return .unavailable(error.message)
        case .invalidArgument: return .configuration(error.message)
        case .protocolViolation: return .unavailable("protocol: \(error.message)")
        case .operation:
            if error.code == .unsupported { return .configuration(error.message) }
            return .unavailable(error.message)
        }
    }
}

/// A running watch of an ``EmbeddedShardMapStore``.
public final class EmbeddedShardMapWatch: ShardMapWatch {
    private let state = NIOLockedValueBox<(task: Task<Void, Never>?, cancelled: Bool, problem: String?)>((nil, false, nil))

    init() {}

    func attach(_ task: Task<Void, Never>) {
        let cancelled = state.withLockedValue { state in
            state.task = task
            return state.cancelled
        }
        if cancelled { task.cancel() }
    }

    var isCancelled: Bool { state.withLockedValue { $0.cancelled } }

    /// The last error a long poll met (diagnostics).
    public var lastProblem: String? { state.withLockedValue { $0.problem } }

    func noteProblem(_ problem: String) { state.withLockedValue { $0.problem = problem } }

    public func cancel() {
        let task = state.withLockedValue { state in
            state.cancelled = true
            return state.task
        }
        task?.cancel()
    }
}
