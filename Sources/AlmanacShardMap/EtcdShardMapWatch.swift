import AlmanacKeyspace
import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// A running watch of an ``EtcdShardMapStore``. Cancel it to stop notifications.
public final class EtcdShardMapWatch: ShardMapWatch {
    private let state = NIOLockedValueBox(State())

    private struct State {
        var task: Task<Void, Never>?
        var cancelled = false
        var streams = 0
        var lastProblem: String?
        var lastDelivered: UInt64 = 0
    }

    init() {}

    public func cancel() {
        let task = state.withLockedValue { state -> Task<Void, Never>? in
            state.cancelled = true
            return state.task
        }
        task?.cancel()
    }

    /// How many watch streams were opened (1 + reconnections).
    public var streamsOpened: Int { state.withLockedValue { $0.streams } }
    /// The last reason a stream ended or a version was skipped (e.g. a malformed record), if any.
    public var lastProblem: String? { state.withLockedValue { $0.lastProblem } }
    /// The revision of the last version delivered.
    public var lastDelivered: UInt64 { state.withLockedValue { $0.lastDelivered } }

    var isCancelled: Bool { state.withLockedValue { $0.cancelled } }

    func attach(_ task: Task<Void, Never>) {
        let cancelled = state.withLockedValue { state -> Bool in
            state.task = task
            return state.cancelled
        }
        if cancelled { task.cancel() }
    }

    func noteStream() { state.withLockedValue { $0.streams += 1 } }
    func noteProblem(_ problem: String) { state.withLockedValue { $0.lastProblem = problem } }
    func noteDelivered(_ revision: UInt64) { state.withLockedValue { $0.lastDelivered = revision } }
}

/// The body of one watch: stream, deliver, and on any end of the stream resume on the next member.
///
/// While a stream is open, a liveness monitor asks the same member for a quorum read every
/// ``EtcdShardMapStoreConfiguration/watchLivenessInterval``; if the member stops answering (frozen,
/// partitioned away without a reset, lost its quorum) the stream is dropped and the watch resumes
/// elsewhere. A killed member's stream ends at once by itself (connection reset).
final class EtcdWatchLoop: Sendable {
    let store: EtcdShardMapStore
    let watch: EtcdShardMapWatch
    let onChange: @Sendable (VersionedShardMap) -> Void
    /// Resolved once: success when the first stream is established, failure if no member takes it.
    let started: @Sendable (Result<Void, ShardMapStoreError>) -> Void
    private let progress: NIOLockedValueBox<Progress>

    init(store: EtcdShardMapStore, watch: EtcdShardMapWatch, afterRevision: UInt64,
         onChange: @escaping @Sendable (VersionedShardMap) -> Void,
         started: @escaping @Sendable (Result<Void, ShardMapStoreError>) -> Void) {
        self.store = store
        self.watch = watch
        self.onChange = onChange
        self.started = started
        self.progress = NIOLockedValueBox(Progress(next: Int64(afterRevision) + 1, delivered: Int64(afterRevision)))
    }

    /// How one stream ended (other than by an error).
    private enum StreamEnd: Sendable {
        case closed
        case compacted(Int64)
    }

    private struct StreamFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Progress of the watch across streams.
    private struct Progress {
        /// The revision the next stream starts at.
        var next: Int64
        /// The last revision delivered (or skipped as malformed), never delivered again.
        var delivered: Int64
        var needsReload = false
        var everStarted = false
        /// When the current stream was confirmed by etcd.
        var establishedAt: ContinuousClock.Instant?
    }

    private var isStopped: Bool { Task.isCancelled || watch.isCancelled }

    func run() async {
        let endpoints = store.configuration.endpoints
        let (initialBackoff, maximumBackoff) = store.configuration.reconnectBackoff
        let clock = ContinuousClock()
        var index = store.preferredEndpoint
        var failuresInRow = 0
        var backoff = initialBackoff
        var problems: [String] = []
        while !isStopped {
            if progress.withLockedValue({ $0.needsReload }) {
                do {
                    try await reload()
                } catch {
                    problems.append("reload after compaction: \(error)")
                    watch.noteProblem(problems.last ?? "")
                    failuresInRow = endpoints.count  // the store already tried every member
                }
            } else {
                let endpointIndex = index % endpoints.count
                let endpoint = endpoints[endpointIndex]
                progress.withLockedValue { $0.establishedAt = nil }
                var problem: String
                do {
                    switch try await streamWhileAlive(from: endpoint, endpointIndex: endpointIndex) {
                    case .compacted(let revision):
                        let next = progress.withLockedValue { progress -> Int64 in
                            progress.needsReload = true
                            return progress.next
                        }
                        watch.noteProblem("revision \(next) compacted (compact revision \(revision)); reloading")
                        continue
                    case .closed:
                        problem = "\(endpoint): stream closed"
                    }
                } catch {
                    if isStopped { break }
                    problem = "\(endpoint): \(error)"
                }
                watch.noteProblem(problem)
                // A stream that lived a while was a success: count failures afresh. One that ends
                // right after it opened counts as a failure, so a flapping member cannot make us spin.
                if let establishedAt = progress.withLockedValue({ $0.establishedAt }), clock.now - establishedAt >= .seconds(1) {
                    failuresInRow = 0
                    backoff = initialBackoff
                    problems.removeAll()
                }
                problems.append(problem)
                index += 1
                failuresInRow += 1
            }
            if failuresInRow >= endpoints.count {
                if !progress.withLockedValue({ $0.everStarted }) {
                    started(.failure(.unavailable("cannot watch the shard map: " + problems.joined(separator: "; "))))
                    return
                }
                failuresInRow = 0
                problems.removeAll()
                do { try await Task.sleep(for: backoff) } catch { break }
                backoff = min(backoff * 2, maximumBackoff)
            }
        }
        started(.failure(.unavailable("watch cancelled")))
    }

    /// Loads the newest version after a compaction and delivers it if it is newer than the last one.
    private func reload() async throws(ShardMapStoreError) {
        let (record, header) = try await store.rangeRecord()
        if let record, record.revision > progress.withLockedValue({ $0.delivered }) {
            do {
                let map = try store.decodeValue(record.value, revision: record.revision)
                deliver(VersionedShardMap(map: map, revision: UInt64(record.revision)))
            } catch {
                skip(record.revision, because: error.description)
            }
        }
        progress.withLockedValue { progress in
            progress.next = max(progress.next, header + 1)
            progress.needsReload = false
        }
    }

    /// Delivers `version` unless it is not newer than the last delivered one or the watch stopped.
    private func deliver(_ version: VersionedShardMap) {
        guard !isStopped else { return }
        let revision = Int64(version.revision)
        let fresh = progress.withLockedValue { progress -> Bool in
            guard revision > progress.delivered else { return false }
            progress.delivered = revision
            progress.next = max(progress.next, revision + 1)
            return true
        }
        guard fresh else { return }
        watch.noteDelivered(version.revision)
        onChange(version)
    }

    /// Skips `revision` (a malformed version or a delete): it is never delivered.
    private func skip(_ revision: Int64, because problem: String) {
        progress.withLockedValue { progress in
            progress.delivered = max(progress.delivered, revision)
            progress.next = max(progress.next, revision + 1)
        }
        watch.noteProblem(problem)
    }

    /// One stream, dropped if its member stops answering quorum reads.
    private func streamWhileAlive(from endpoint: EtcdEndpoint, endpointIndex: Int) async throws -> StreamEnd {
        let interval = store.configuration.watchLivenessInterval
        let probe: [UInt8] = Array(try JSONEncoder().encode(EtcdWire.RangeRequest(key: store.keyBase64, count_only: true)))
        return try await withThrowingTaskGroup(of: StreamEnd?.self) { group in
            group.addTask { try await self.stream(from: endpoint, endpointIndex: endpointIndex) }
            group.addTask {
                while true {
                    try await Task.sleep(for: interval)
                    do {
                        _ = try await self.store.post("/v3/kv/range", probe, to: endpoint, as: EtcdWire.RangeResponse.self)
                    } catch {
                        throw StreamFailure(description: "member stopped answering (\(error)); leaving it")
                    }
                }
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let end = first else { return .closed }
            return end
        }
    }

    /// One streaming /v3/watch request on one member, until it ends.
    private func stream(from endpoint: EtcdEndpoint, endpointIndex: Int) async throws -> StreamEnd {
        let request = EtcdWire.WatchRequest(create_request: .init(
            key: store.keyBase64, start_revision: .init(progress.withLockedValue { $0.next }), progress_notify: true))
        var http = HTTPClientRequest(url: endpoint.baseURL + "/v3/watch")
        http.method = .POST
        http.headers = EtcdShardMapStore.requestHeaders
        http.body = .bytes(ByteBuffer(bytes: Array(try JSONEncoder().encode(request))))
        let client = store.client
        let timeout = store.configuration.attemptTimeout
        let prepared = http
        // The gateway sends the response head with the first message (`created`), so this bounds
        // the whole set-up.
        let response = try await withTimeout(timeout) {
            try await client.execute(prepared, timeout: .nanoseconds(EtcdShardMapStore.nanoseconds(timeout)))
        }
        guard response.status == .ok else {
            let body = (try? await withTimeout(timeout) { try await response.body.collect(upTo: 64 * 1024) }) ?? ByteBuffer()
            let message = (try? JSONDecoder().decode(EtcdWire.GatewayError.self, from: Data(body.readableBytesView)))?.text
            throw StreamFailure(description: "HTTP \(response.status.code): \(message ?? "watch refused")")
        }
        watch.noteStream()
        var pending: [UInt8] = []
        for try await chunk in response.body {
            pending.append(contentsOf: chunk.readableBytesView)
            guard pending.count <= EtcdShardMapStore.maximumResponseBytes else {
                throw StreamFailure(description: "a watch message exceeds \(EtcdShardMapStore.maximumResponseBytes) bytes")
            }
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") }) else { continue }
                if let end = try handle(line: line, endpointIndex: endpointIndex) { return end }
            }
        }
        return .closed
    }

    /// Handles one message of the stream; returns how the stream ended if this message ends it.
    private func handle(line: [UInt8], endpointIndex: Int) throws -> StreamEnd? {
        let message: EtcdWire.WatchStreamMessage
        do {
            message = try JSONDecoder().decode(EtcdWire.WatchStreamMessage.self, from: Data(line))
        } catch {
            throw StreamFailure(description: "unreadable watch message: \(error)")
        }
        if let error = message.error { throw StreamFailure(description: "watch error: \(error.text)") }
        guard let result = message.result else { return nil }
        if result.canceled == true {
            if let compacted = result.compact_revision?.value, compacted > 0 { return .compacted(compacted) }
            throw StreamFailure(description: "watch cancelled by etcd: \(result.cancel_reason ?? "no reason given")")
        }
        if result.created == true {
            store.markPreferred(endpointIndex)
            let first = progress.withLockedValue { progress -> Bool in
                progress.establishedAt = ContinuousClock.now
                defer { progress.everStarted = true }
                return !progress.everStarted
            }
            if first { started(.success(())) }
        }
        for event in result.events ?? [] {
            guard let kv = event.kv, let revision = kv.mod_revision?.value else { continue }
            guard revision > progress.withLockedValue({ $0.delivered }) else { continue }
            if event.type == "DELETE" {
                // Not part of the protocol (maps are replaced, never deleted): watchers keep their map.
                skip(revision, because: "the map key was deleted at revision \(revision); keeping the last map")
                continue
            }
            do {
                let map = try store.decodeValue(kv.value, revision: revision)
                deliver(VersionedShardMap(map: map, revision: UInt64(revision)))
            } catch {
                // A malformed version is skipped (watchers keep the last good map); load() reports it.
                skip(revision, because: error.description)
            }
        }
        return nil
    }
}
