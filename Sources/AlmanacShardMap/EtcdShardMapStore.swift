import AlmanacKeyspace
import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The shard map in an etcd 3.4+ cluster, through etcd's v3 JSON gateway (docs/sharding-etcd.md).
///
/// - The map's JSON (``ShardMapRecord``) is the value of one key, `<prefix>/<clusterID>/shardmap`;
///   its revision is the key's `mod_revision`.
/// - Every update is one Txn comparing the key's mod revision (create revision 0 for "only if
///   absent"); a lost compare is ``ShardMapStoreError/conflict(expected:actual:)``.
/// - Watchers hold one streaming `/v3/watch` request and resume from the last seen revision on
///   another member when theirs goes away.
/// - Each call tries each endpoint at most once, bounded by ``EtcdShardMapStoreConfiguration/attemptTimeout``
///   per attempt, starting with the member that answered last. Requests carry gRPC's
///   `hasleader` metadata, so a member cut off from the majority answers at once instead of waiting.
///
/// Call ``shutdown()`` when done: it stops the store's watches (a running watch keeps its store
/// alive). All stores share one process-wide HTTP client unless one is passed in.
public final class EtcdShardMapStore: ShardMapStore, ControlRecordStore {
    public let backendName = "etcd"
    public let configuration: EtcdShardMapStoreConfiguration

    let client: HTTPClient
    let keyBase64: String
    /// Index of the endpoint that answered last (calls and watches start there).
    private let preferred = NIOLockedValueBox(0)
    private let watches = NIOLockedValueBox(WatchRegistry())

    private struct WatchRegistry {
        var nextID = 0
        var tasks: [Int: Task<Void, Never>] = [:]
        var shutDown = false
    }

    /// The HTTP client of every store that was not given one: lives as long as the process, so a
    /// store can be dropped at any time (AsyncHTTPClient traps in debug builds when a client that
    /// was not shut down is deallocated).
    static let sharedClient: HTTPClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                                                     configuration: recommendedHTTPConfiguration)

    /// The HTTP client settings the store relies on: HTTP/1.1, no redirects, room for many
    /// connections per member (a watch holds one), and a connection that cannot be made fails the
    /// request at once (instead of retrying until the connect timeout), so that the next endpoint
    /// is tried.
    public static var recommendedHTTPConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.connectionPool.retryConnectionEstablishment = false
        // Each watch holds one connection for its lifetime; calls must never queue behind them.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        configuration.timeout = .init(connect: .seconds(2))
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        return configuration
    }

    /// A store; `httpClient` (owned by the caller, see ``recommendedHTTPConfiguration``) defaults
    /// to a process-wide one. Every attempt is bounded by the configuration's `attemptTimeout`
    /// whatever the client's own timeouts.
    public init(configuration: EtcdShardMapStoreConfiguration, httpClient: HTTPClient? = nil) throws(ShardMapStoreError) {
        self.configuration = try configuration.validated()
        self.keyBase64 = EtcdWire.base64(self.configuration.mapKey)
        self.client = httpClient ?? Self.sharedClient
    }

    /// A store for `etcd://host:port,host:port,...[/key-prefix]` (see ``EtcdShardMapStoreConfiguration/parse(url:)``).
    public convenience init(url: String, clusterID: String, attemptTimeout: Duration = .seconds(1),
                            knownNodes: [NodeID: ZoneName]? = nil) throws(ShardMapStoreError) {
        try self.init(configuration: EtcdShardMapStoreConfiguration(
            url: url, clusterID: clusterID, attemptTimeout: attemptTimeout, knownNodes: knownNodes))
    }

    /// Stops every watch of this store (and refuses new ones). Idempotent.
    public func shutdown() async {
        let tasks = watches.withLockedValue { registry in
            registry.shutDown = true
            defer { registry.tasks.removeAll() }
            return Array(registry.tasks.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    // MARK: - ShardMapStore

    public func load() async throws(ShardMapStoreError) -> VersionedShardMap? {
        try await loadWithHeader().version
    }

    // MARK: - ControlRecordStore

    public func loadRecord(_ name: ControlRecordName) async throws(ShardMapStoreError) -> ControlRecord? {
        let key = configuration.recordKey(name)
        let (response, _) = try await call("/v3/kv/range", EtcdWire.RangeRequest(key: EtcdWire.base64(key)), as: EtcdWire.RangeResponse.self)
        guard let kv = response.kvs?.first else { return nil }
        let revision = kv.mod_revision?.value ?? 0
        guard revision > 0 else { throw .malformed("etcd returned \(key) without a mod revision") }
        guard let data = Data(base64Encoded: kv.value ?? "") else { throw .malformed("\(key)@\(revision): etcd value is not base64") }
        return ControlRecord(bytes: Array(data), revision: UInt64(revision))
    }

    public func compareAndSwapRecord(_ name: ControlRecordName, expectedRevision: UInt64, bytes: [UInt8]) async throws(ShardMapStoreError) -> ControlRecord {
        let revision = try await swapValue(keyBase64: EtcdWire.base64(configuration.recordKey(name)), expectedRevision: expectedRevision, bytes: bytes)
        return ControlRecord(bytes: bytes, revision: revision)
    }

    /// One compare-and-swap of a key's value: a Txn comparing its mod revision (its create revision
    /// 0 when `expectedRevision` is 0). Returns the new revision; throws a conflict naming the current one.
    func swapValue(keyBase64 key: String, expectedRevision: UInt64, bytes: [UInt8]) async throws(ShardMapStoreError) -> UInt64 {
        guard expectedRevision <= UInt64(Int64.max) else { throw .conflict(expected: expectedRevision, actual: 0) }
        let value = EtcdWire.base64(bytes)
        let compare = expectedRevision == 0
            ? EtcdWire.Compare(key: key, target: .CREATE, result: .EQUAL, create_revision: .init(0))
            : EtcdWire.Compare(key: key, target: .MOD, result: .EQUAL, mod_revision: .init(Int64(expectedRevision)))
        let request = EtcdWire.TxnRequest(
            compare: [compare],
            success: [EtcdWire.RequestOp(request_put: .init(key: key, value: value))],
            failure: [EtcdWire.RequestOp(request_range: .init(key: key))])
        let (response, retried) = try await call("/v3/kv/txn", request, as: EtcdWire.TxnResponse.self)
        if response.succeeded == true {
            guard let revision = response.header?.revision?.value, revision > 0 else {
                throw .unavailable("etcd answered a successful txn without a revision")
            }
            return UInt64(revision)
        }
        let current = response.responses?.first?.response_range?.kvs?.first
        let actual = UInt64(max(0, current?.mod_revision?.value ?? 0))
        // An earlier attempt may have committed before its answer was lost: if the key now holds
        // exactly our bytes at a newer revision, that write is ours (or an identical one).
        if retried, let current, current.value == value, actual > expectedRevision {
            return actual
        }
        throw .conflict(expected: expectedRevision, actual: actual)
    }

    public func compareAndSwap(expectedRevision: UInt64, map: ShardMap) async throws(ShardMapStoreError) -> VersionedShardMap {
        if let knownNodes = configuration.knownNodes {
            do { try map.validate(knownNodes: knownNodes) } catch { throw .invalid(error.description) }
        }
        let bytes = try ShardMapRecord.encode(map)
        return VersionedShardMap(map: map, revision: try await swapValue(keyBase64: keyBase64, expectedRevision: expectedRevision, bytes: bytes))
    }

    public func watch(afterRevision: UInt64, onChange: @escaping @Sendable (VersionedShardMap) -> Void) async throws(ShardMapStoreError) -> ShardMapWatch {
        try await etcdWatch(afterRevision: afterRevision, onChange: onChange)
    }

    /// ``watch(afterRevision:onChange:)`` returning the concrete watch (reconnection count, last problem).
    public func etcdWatch(afterRevision: UInt64, onChange: @escaping @Sendable (VersionedShardMap) -> Void) async throws(ShardMapStoreError) -> EtcdShardMapWatch {
        guard afterRevision < UInt64(Int64.max) else { throw .configuration("watch revision \(afterRevision) is out of range") }
        let watch = EtcdShardMapWatch()
        let started: Result<Void, ShardMapStoreError> = await withCheckedContinuation { continuation in
            let signalled = NIOLockedValueBox(false)
            let signal: @Sendable (Result<Void, ShardMapStoreError>) -> Void = { result in
                let first = signalled.withLockedValue { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: result) }
            }
            let registered = watches.withLockedValue { registry -> Bool in
                guard !registry.shutDown else { return false }
                let id = registry.nextID
                registry.nextID += 1
                let task = Task { [self] in
                    await EtcdWatchLoop(store: self, watch: watch, afterRevision: afterRevision, onChange: onChange, started: signal).run()
                    _ = self.watches.withLockedValue { $0.tasks.removeValue(forKey: id) }
                }
                registry.tasks[id] = task
                watch.attach(task)
                return true
            }
            if !registered { signal(.failure(.unavailable("the store is shut down"))) }
        }
        if case .failure(let error) = started {
            watch.cancel()
            throw error
        }
        return watch
    }

    public func health() async -> ShardMapStoreHealth {
        let endpoints = configuration.endpoints
        let results = await withTaskGroup(of: (Int, String?).self) { group in
            for (index, endpoint) in endpoints.enumerated() {
                group.addTask { (index, await self.probe(endpoint)) }
            }
            var problems = [String?](repeating: nil, count: endpoints.count)
            for await (index, problem) in group { problems[index] = problem }
            return problems
        }
        let up = results.filter { $0 == nil }.count
        var detail = "\(up)/\(endpoints.count) etcd members healthy"
        let down = zip(endpoints, results).compactMap { endpoint, problem in problem.map { "\(endpoint): \($0)" } }
        if !down.isEmpty { detail += " (" + down.joined(separator: "; ") + ")" }
        // A member reports healthy only while it has a leader and serves a quorum read.
        return ShardMapStoreHealth(healthy: up > 0, detail: detail)
    }

    // MARK: - Internals

    /// The stored version with the range's header revision (where a watch can resume).
    func loadWithHeader() async throws(ShardMapStoreError) -> (version: VersionedShardMap?, headerRevision: Int64) {
        let (record, header) = try await rangeRecord()
        guard let record else { return (nil, header) }
        let map = try decodeValue(record.value, revision: record.revision)
        return (VersionedShardMap(map: map, revision: UInt64(record.revision)), header)
    }

    /// The undecoded record (base64 value and mod revision) and the range's header revision.
    func rangeRecord() async throws(ShardMapStoreError) -> (record: (value: String?, revision: Int64)?, headerRevision: Int64) {
        let (response, _) = try await call("/v3/kv/range", EtcdWire.RangeRequest(key: keyBase64), as: EtcdWire.RangeResponse.self)
        let header = response.header?.revision?.value ?? 0
        guard let kv = response.kvs?.first else { return (nil, header) }
        let revision = kv.mod_revision?.value ?? 0
        guard revision > 0 else { throw .malformed("etcd returned \(configuration.mapKey) without a mod revision") }
        return ((kv.value, revision), header)
    }

    /// The map in a base64 value from etcd.
    func decodeValue(_ value: String?, revision: Int64) throws(ShardMapStoreError) -> ShardMap {
        let source = "\(configuration.mapKey)@\(revision)"
        guard let value, !value.isEmpty else { throw .malformed("\(source): empty value") }
        guard let data = Data(base64Encoded: value) else { throw .malformed("\(source): etcd value is not base64") }
        return try ShardMapRecord.decode(Array(data), source: source)
    }

    var preferredEndpoint: Int { preferred.withLockedValue { $0 } }

    func markPreferred(_ index: Int) { preferred.withLockedValue { $0 = index } }

    /// POSTs `body` to each endpoint in turn (starting with the preferred one) until one answers.
    /// Returns the answer and whether an earlier attempt failed (its effect is unknown).
    func call<Response: Decodable & Sendable>(
        _ path: String, _ body: some Encodable, as type: Response.Type
    ) async throws(ShardMapStoreError) -> (Response, retried: Bool) {
        let payload: [UInt8]
        do { payload = Array(try JSONEncoder().encode(body)) } catch { throw .configuration("cannot encode an etcd request: \(error)") }
        let endpoints = configuration.endpoints
        let start = preferredEndpoint
        var problems: [String] = []
        for step in 0..<endpoints.count {
            let index = (start + step) % endpoints.count
            let endpoint = endpoints[index]
            do {
                let response = try await post(path, payload, to: endpoint, as: type)
                markPreferred(index)
                return (response, !problems.isEmpty)
            } catch {
                problems.append("\(endpoint): \(error)")
            }
            if Task.isCancelled { break }
        }
        throw .unavailable("no etcd member answered \(path): " + problems.joined(separator: "; "))
    }

    /// One bounded POST to one member, decoded as `Response`.
    func post<Response: Decodable & Sendable>(
        _ path: String, _ payload: [UInt8], to endpoint: EtcdEndpoint, as type: Response.Type
    ) async throws(AttemptError) -> Response {
        let timeout = configuration.attemptTimeout
        let client = self.client
        let (status, body): (HTTPResponseStatus, [UInt8])
        do {
            (status, body) = try await withTimeout(timeout) {
                var request = HTTPClientRequest(url: endpoint.baseURL + path)
                request.method = .POST
                request.headers = Self.requestHeaders
                request.body = .bytes(ByteBuffer(bytes: payload))
                let response = try await client.execute(request, timeout: .nanoseconds(Int64(Self.nanoseconds(timeout))))
                let buffer = try await response.body.collect(upTo: Self.maximumResponseBytes)
                return (response.status, Array(buffer.readableBytesView))
            }
        } catch let error as AttemptError {
            throw error
        } catch {
            throw .transport(Self.describe(error))
        }
        guard status == .ok else {
            let message = (try? JSONDecoder().decode(EtcdWire.GatewayError.self, from: Data(body)))?.text
                ?? String(decoding: body.prefix(200), as: UTF8.self)
            throw .status(status.code, message)
        }
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw .badResponse("\(error)")
        }
    }

    /// Is `endpoint` healthy? nil if so, else why not.
    private func probe(_ endpoint: EtcdEndpoint) async -> String? {
        let timeout = configuration.attemptTimeout
        let client = self.client
        do {
            let (status, body) = try await withTimeout(timeout) {
                var request = HTTPClientRequest(url: endpoint.baseURL + "/health")
                request.method = .GET
                let response = try await client.execute(request, timeout: .nanoseconds(Int64(Self.nanoseconds(timeout))))
                let buffer = try await response.body.collect(upTo: 64 * 1024)
                return (response.status, Array(buffer.readableBytesView))
            }
            let health = try? JSONDecoder().decode(EtcdWire.HealthResponse.self, from: Data(body))
            if status == .ok, health?.health == "true" { return nil }
            return "unhealthy (\(health?.reason ?? String(decoding: body.prefix(100), as: UTF8.self)))"
        } catch {
            return Self.describe(error)
        }
    }

    static let maximumResponseBytes = 64 << 20

    /// Requests carry gRPC metadata `hasleader: true`: a member without a leader refuses at once.
    static let requestHeaders: HTTPHeaders = [
        "Content-Type": "application/json",
        "Grpc-Metadata-Hasleader": "true",
    ]

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue &+ attoseconds / 1_000_000_000
    }

    /// A short description of a transport error.
    static func describe(_ error: any Error) -> String {
        if error is CancellationError { return "cancelled" }
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "..." : text
    }
}

/// Why one attempt on one member failed.
enum AttemptError: Error, CustomStringConvertible {
    case timeout(Duration)
    case transport(String)
    case status(UInt, String)
    case badResponse(String)

    var description: String {
        switch self {
        case .timeout(let duration): return "no answer within \(duration)"
        case .transport(let message): return message
        case .status(let code, let message): return "HTTP \(code): \(message)"
        case .badResponse(let message): return "unreadable answer: \(message)"
        }
    }
}

/// Runs `body`, throwing ``AttemptError/timeout(_:)`` (and cancelling it) if it takes longer than `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw AttemptError.timeout(timeout) }
        return value
    }
}

// MARK: - Raw access (tests and repair tools)

extension EtcdShardMapStore {
    /// Puts `bytes` as the map record without any check; returns the new revision.
    func putRawRecord(_ bytes: [UInt8]) async throws(ShardMapStoreError) -> UInt64 {
        struct PutResponse: Decodable, Sendable { var header: EtcdWire.ResponseHeader? }
        let (response, _) = try await call("/v3/kv/put", EtcdWire.PutRequest(key: keyBase64, value: EtcdWire.base64(bytes)), as: PutResponse.self)
        return UInt64(max(0, response.header?.revision?.value ?? 0))
    }

    /// The record's raw bytes and mod revision, nil if absent.
    func rawRecord() async throws(ShardMapStoreError) -> (bytes: [UInt8], revision: UInt64)? {
        let (response, _) = try await call("/v3/kv/range", EtcdWire.RangeRequest(key: keyBase64), as: EtcdWire.RangeResponse.self)
        guard let kv = response.kvs?.first else { return nil }
        guard let data = Data(base64Encoded: kv.value ?? "") else { throw .malformed("etcd value is not base64") }
        return (Array(data), UInt64(max(0, kv.mod_revision?.value ?? 0)))
    }

    /// Deletes the map record (not part of the protocol: tests and repair tools).
    func deleteRecord() async throws(ShardMapStoreError) {
        struct DeleteRangeRequest: Encodable { var key: String }
        struct DeleteRangeResponse: Decodable, Sendable { var header: EtcdWire.ResponseHeader? }
        _ = try await call("/v3/kv/deleterange", DeleteRangeRequest(key: keyBase64), as: DeleteRangeResponse.self)
    }

    /// Compacts etcd's history up to `revision` (all keys of the etcd cluster).
    func compact(revision: UInt64) async throws(ShardMapStoreError) {
        struct CompactionRequest: Encodable { var revision: EtcdWire.Int64Field; var physical: Bool }
        struct CompactionResponse: Decodable, Sendable { var header: EtcdWire.ResponseHeader? }
        _ = try await call("/v3/kv/compaction", CompactionRequest(revision: .init(Int64(revision)), physical: true), as: CompactionResponse.self)
    }
}
