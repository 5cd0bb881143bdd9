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
struct EtcdWatchLoop: Sendable {
    let store: EtcdShardMapStore
    let watch: EtcdShardMapWatch
    let afterRevision: UInt64
    let onChange: @Sendable (VersionedShardMap) -> Void
    /// Resolved once: success when the first stream is established, failure if no member takes it.
    let started: @Sendable (Result<Void, ShardMapStoreError>) -> Void

    /// How one stream ended (other than by an error).
    private enum StreamEnd {
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
    }

    func run() async {
        let endpoints = store.configuration.endpoints
        let (initialBackoff, maximumBackoff) = store.configuration.reconnectBackoff
        var progress = Progress(next: Int64(afterRevision) + 1, delivered: Int64(afterRevision))
        var index = store.preferredEndpoint
        var failuresInRow = 0
        var backoff = initialBackoff
        var problems: [String] = []
        while !Task.isCancelled && !watch.isCancelled {
            if progress.needsReload {
                do {
                    try await reload(&progress)
                } catch {
                    problems.append("reload after compaction: \(error)")
                    watch.noteProblem(problems.last ?? "")
                    failuresInRow = endpoints.count  // the store already tried every member
                }
            }
            if !progress.needsReload {
                let endpoint = endpoints[index % endpoints.count]
                do {
                    let end = try await stream(from: endpoint, progress: &progress) {
                        failuresInRow = 0
                        backoff = initialBackoff
                        problems.removeAll()
                        store.markPreferred(index % endpoints.count)
                    }
                    switch end {
                    case .compacted(let revision):
                        progress.needsReload = true
                        watch.noteProblem("revision \(progress.next) compacted (compact revision \(revision)); reloading")
                        continue
                    case .closed:
                        problems.append("\(endpoint): stream closed")
                    }
                } catch {
                    if Task.isCancelled || watch.isCancelled { break }
                    problems.append("\(endpoint): \(error)")
                }
                watch.noteProblem(problems.last ?? "")
                index += 1
                failuresInRow += 1
            }
            if failuresInRow >= endpoints.count {
                if !progress.everStarted {
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
    private func reload(_ progress: inout Progress) async throws(ShardMapStoreError) {
        let (version, header) = try await store.loadWithHeader()
        if let version, Int64(version.revision) > progress.delivered {
            deliver(version, &progress)
        }
        progress.next = max(progress.next, header + 1)
        progress.needsReload = false
    }

    private func deliver(_ version: VersionedShardMap, _ progress: inout Progress) {
        guard !Task.isCancelled && !watch.isCancelled else { return }
        progress.delivered = Int64(version.revision)
        watch.noteDelivered(version.revision)
        onChange(version)
    }

    /// One streaming /v3/watch request on one member, until it ends.
    private func stream(
        from endpoint: EtcdEndpoint, progress: inout Progress, onEstablished: () -> Void
    ) async throws -> StreamEnd {
        let request = EtcdWire.WatchRequest(create_request: .init(
            key: store.keyBase64, start_revision: .init(progress.next), progress_notify: true))
        var http = HTTPClientRequest(url: endpoint.baseURL + "/v3/watch")
        http.method = .POST
        http.headers = EtcdShardMapStore.requestHeaders
        http.body = .bytes(ByteBuffer(bytes: Array(try JSONEncoder().encode(request))))
        let client = store.client
        let timeout = store.configuration.attemptTimeout
        let prepared = http
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
                let line = pending[..<newline]
                defer { pending.removeSubrange(...newline) }
                guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") }) else { continue }
                if let end = try handle(line: Array(line), progress: &progress, onEstablished: onEstablished) {
                    return end
                }
            }
        }
        return .closed
    }

    /// Handles one message of the stream; returns how the stream ended if this message ends it.
    private func handle(line: [UInt8], progress: inout Progress, onEstablished: () -> Void) throws -> StreamEnd? {
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
            onEstablished()
            if !progress.everStarted {
                progress.everStarted = true
                started(.success(()))
            }
        }
        for event in result.events ?? [] {
            guard let kv = event.kv, let revision = kv.mod_revision?.value, revision > progress.delivered else { continue }
            progress.next = max(progress.next, revision + 1)
            if event.type == "DELETE" {
                // Not part of the protocol (maps are replaced, never deleted): watchers keep their map.
                watch.noteProblem("the map key was deleted at revision \(revision); keeping the last map")
                progress.delivered = revision
                continue
            }
            do {
                let map = try store.decodeValue(kv.value, revision: revision)
                deliver(VersionedShardMap(map: map, revision: UInt64(revision)), &progress)
            } catch {
                // A malformed version is skipped (watchers keep the last good map); load() reports it.
                watch.noteProblem(error.description)
                progress.delivered = revision
            }
        }
        return nil
    }
}
