import AlmanacAnswersAhead
import AlmanacKeyspace
import AlmanacWire
import NIOCore
import NIOPosix

/// An async client for the Almanac client protocol.
///
/// - Connects lazily to the configured endpoints and pipelines requests over one connection per
///   endpoint (responses are matched by request id).
/// - Writes are exactly-once: each shard gets a session, every write a sequence number, and a retry
///   (after a timeout, a lost connection, UNAVAILABLE or a NOT_LEADER redirect) resends the same
///   session and sequence, so the server applies it once and answers with the first result.
/// - Follows NOT_LEADER hints to the shard's leader and remembers it; falls back to trying the other
///   endpoints with backoff until the operation's deadline.
/// - All its connections use one event loop of `group`. A caller running on that loop (a task with
///   that loop as its task executor preference) is served without any thread hop: the request is
///   written on the spot, writes of the same loop tick share one flush, and the answer resumes the
///   caller on the same thread. That is the cheapest way to issue many operations per second (see
///   `almanac bench`); other callers cost one hop to the loop and one back per attempt.
public actor AlmanacClient {
    public let configuration: AlmanacClientConfiguration
    let eventLoop: any EventLoop
    private var connections: [String: ClientConnection] = [:]
    private var connecting: [String: Task<ClientConnection, any Error>] = [:]
    /// Endpoints learned from redirects, after the configured ones.
    private(set) var endpoints: [String]
    private var endpointCursor = 0
    private(set) var leaderByShard: [UInt16: String] = [:]
    /// The cached shard map (fetched on first use, refreshed after WRONG_SHARD).
    var shardMap: ShardMap?
    /// How many times the map was fetched from the cluster (each fetch is one round trip).
    public internal(set) var shardMapFetches = 0
    private var sessions: [UInt16: SessionState] = [:]
    private var openingSessions: [UInt16: Task<UInt64, any Error>] = [:]
    private var keepAliveTask: Task<Void, Never>?
    private var requestsInFlight = 0
    private var requestWaiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false
    /// Writes acknowledged ahead of commit (async durability) and not yet known durable, per shard
    /// (see AlmanacClient+AnswersAhead.swift).
    var unconfirmedWrites = UnconfirmedWrites<UnconfirmedWrite>()
    /// Shards with a confirmation (unsequenced keep-alive) in flight.
    var confirming: Set<UInt16> = []
    /// Writes acknowledged ahead of commit; replays of those whose leader changed before they were
    /// known durable, and how many replays answered differently from the first answer (lost with
    /// that leader and executed again).
    public internal(set) var answeredAheadWrites = 0
    public internal(set) var replayedWrites = 0
    public internal(set) var replayedWritesChanged = 0
    /// Times the hedges of slow attempts (see hedgedAttempt).
    let hedgeTicker: HedgeTicker

    struct SessionState {
        var id: UInt64
        var nextSequence: UInt64 = 1
        /// Sequence numbers sent and not yet answered, ascending (at most
        /// `maxInFlightWritesPerSession` of them, so a linear search is cheap).
        var outstanding: [UInt64] = []
        var waiters: [CheckedContinuation<Void, Never>] = []
        var leaseMilliseconds: UInt32
        var lastUsed: ContinuousClock.Instant
    }

    public init(configuration: AlmanacClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.eventLoop = group.next()
        self.endpoints = configuration.endpoints
        self.shardMap = configuration.initialShardMap
        self.hedgeTicker = HedgeTicker(eventLoop: eventLoop, resolution: .nanoseconds((configuration.hedgeDelay?.nanoseconds ?? 200_000_000) / 4))
    }

    /// A client for `endpoints` with default settings.
    public init(endpoints: [String]) {
        self.init(configuration: AlmanacClientConfiguration(endpoints: endpoints))
    }

    /// Closes the sessions (best effort, at most `closeTimeout` each) and the connections.
    /// Writes still unconfirmed (async durability) get one round of confirmation first.
    public func shutdown(closeTimeout: TimeAmount = .seconds(1)) async {
        if unconfirmedWriteCount > 0 { await waitUntilDurable(attempts: 1) }
        keepAliveTask?.cancel()
        keepAliveTask = nil
        for shard in sessions.keys.sorted() {
            var request = Almanac_Api_V1_Request()
            request.closeSession = Almanac_Api_V1_CloseSessionRequest()
            _ = try? await write(request, shard: shard, timeout: closeTimeout)
        }
        for state in sessions.values { state.waiters.forEach { $0.resume() } }
        sessions.removeAll()
        closed = true
        for connection in connections.values { await connection.close() }
        connections.removeAll()
    }

    // MARK: - Requests

    /// Sends a read-only or session-less request with retries and redirects.
    func read(_ request: Almanac_Api_V1_Request, shard: UInt16?) async throws(AlmanacClientError) -> Almanac_Api_V1_Response {
        var request = request
        request.consistency = configuration.consistency
        var ambiguous = false
        return try await call(request, shard: shard, timeout: configuration.operationTimeout, ambiguous: &ambiguous)
    }

    /// Sends a journaled write on `shard`'s session with the next sequence number; retries reuse it.
    func write(
        _ request: Almanac_Api_V1_Request, shard: UInt16, timeout: TimeAmount? = nil
    ) async throws(AlmanacClientError) -> Almanac_Api_V1_Response {
        var request = request
        // Session upkeep is always answered at commit: its answers are what confirm async writes.
        switch request.operation {
        case .keepAlive?, .closeSession?: request.durability = .majority
        default: request.durability = configuration.durability
        }
        var reopened = false
        while true {
            let session = try await session(for: shard)
            guard let sequence = await reserveSequence(shard: shard, session: session) else { continue }  // replaced meanwhile
            request.sessionID = session
            request.sequence = sequence
            var ambiguous = false
            do {
                let response = try await call(request, shard: shard, timeout: timeout ?? configuration.operationTimeout, ambiguous: &ambiguous)
                if response.leaderTerm != 0 { await settleUnconfirmed(shard: shard, by: response) }
                if response.durableIndex < response.appliedIndex, response.leaderTerm != 0 {
                    // Answered ahead of commit: the sequence stays reserved (inside the server's
                    // result window) until the write is known durable or has been replayed.
                    answeredAheadWrites += 1
                    unconfirmedWrites.keep(UnconfirmedWrite(request: request, answer: response), shard: shard, sequence: sequence,
                                           index: response.appliedIndex, term: response.leaderTerm)
                } else {
                    releaseSequence(sequence, shard: shard, session: session)
                }
                return response
            } catch {
                releaseSequence(sequence, shard: shard, session: session)
                // An unknown or expired session: open a new one and retry, but only if no earlier
                // attempt may have applied the write (otherwise the retry could apply it twice).
                if error.code == .staleSession, !ambiguous, !reopened, !error.message.contains("STALE_SEQUENCE") {
                    if let old = sessions[shard], old.id == session {
                        sessions[shard] = nil
                        old.waiters.forEach { $0.resume() }
                    }
                    reopened = true
                    continue
                }
                throw error
            }
        }
    }

    /// One request with retries: redirects on NOT_LEADER, backoff on UNAVAILABLE/TIMEOUT and
    /// connection failures, until the operation deadline. `ambiguous` becomes true once an attempt
    /// may have reached the server without its answer reaching us.
    func call(
        _ request: Almanac_Api_V1_Request, shard: UInt16?, timeout: TimeAmount, ambiguous: inout Bool
    ) async throws(AlmanacClientError) -> Almanac_Api_V1_Response {
        guard !closed else { throw AlmanacClientError(.unavailable, "the client is shut down") }
        guard !endpoints.isEmpty else { throw AlmanacClientError(.invalidArgument, "no endpoints configured") }
        let clock = ContinuousClock()
        let deadline = clock.now + .nanoseconds(timeout.nanoseconds)
        await acquireRequestSlot()
        defer { releaseRequestSlot() }
        var target = shard.flatMap { leaderByShard[$0] } ?? endpoints[endpointCursor % endpoints.count]
        var backoff = configuration.initialBackoff
        // A live server answered during this call that the shard has no leader it can point to (an
        // election, or a hint naming a node we could not reach): the cluster is reachable and
        // electing, so pauses stop growing at maxElectionBackoff (see its documentation).
        var electing = false
        // Endpoints whose connection failed during this call: a hint naming one is stale (a
        // follower still points at its killed leader) and is not followed.
        var unreachable: Set<String> = []
        var lastError = AlmanacClientError(.unavailable, "no endpoint answered")
        var redirects = 0
        while clock.now < deadline {
            var pause = true
            let attempt = min(configuration.attemptTimeout, .nanoseconds(max(1, Self.nanoseconds(deadline - clock.now))))
            // Hedged: a hung node does not hold the request for the whole attempt (see hedgedAttempt).
            let answer = await hedgedAttempt(request, shard: shard, target: target, timeout: attempt)
            let outcome = answer.outcome
            target = answer.target
            if answer.abandonedOthers { ambiguous = true }
            switch outcome {
            case .success(let response):
                guard response.hasError, response.error.code != Almanac_Api_V1_ErrorCode.ok else {
                    if let shard { leaderByShard[shard] = target }
                    return response
                }
                let error = response.error
                switch error.code {
                case .notLeader:
                    lastError = AlmanacClientError(response: error)
                    if let shard { leaderByShard[shard] = nil }
                    let hint = error.leaderHint.address
                    if !hint.isEmpty, hint != target, !unreachable.contains(hint), redirects < 2 * max(3, endpoints.count) {
                        redirects += 1
                        learn(hint)
                        target = hint
                        if let shard { leaderByShard[shard] = hint }
                        pause = false
                    } else {
                        electing = true
                        target = nextEndpoint(after: target)
                    }
                case .unavailable where error.replayWindow:
                    // The shard's new leader admits replays first: send ours, then retry here.
                    lastError = AlmanacClientError(response: error)
                    if let shard { leaderByShard[shard] = target }
                    if let shard { await replayUnconfirmed(shard: shard) }
                case .unavailable:
                    lastError = AlmanacClientError(response: error)
                    electing = true
                    target = nextEndpoint(after: target)
                case .conflict:
                    // A cross-shard transaction holds a record this request needs, for a few
                    // milliseconds: nothing happened, so wait (backoff) and send the same request again.
                    lastError = AlmanacClientError(response: error)
                case .timeout:
                    ambiguous = true
                    lastError = AlmanacClientError(response: error)
                default:
                    throw AlmanacClientError(response: error)
                }
            case .failure(.connection(let message)):
                // The request may have been written before the connection dropped.
                ambiguous = true
                lastError = AlmanacClientError(.unavailable, message)
                unreachable.insert(target)
                drop(target)
                target = nextEndpoint(after: target)
            case .failure(.timedOut(let message)):
                ambiguous = true
                lastError = AlmanacClientError(.timeout, message)
                target = nextEndpoint(after: target)
            case .failure(.protocolViolation(let message)):
                drop(target)
                throw AlmanacClientError(.protocolViolation, message)
            case .failure(.unsendable(let code, let message)):
                throw AlmanacClientError(.invalidArgument, code: code, message)
            }
            if pause {
                let remaining = Self.nanoseconds(deadline - clock.now)
                guard remaining > 0 else { break }
                let cap = electing ? min(configuration.maxBackoff, configuration.maxElectionBackoff) : configuration.maxBackoff
                backoff = min(backoff, cap)
                try? await Task.sleep(nanoseconds: UInt64(max(0, min(backoff.nanoseconds, remaining))))
                backoff = min(cap, backoff * 2)
            }
        }
        if lastError.kind == .unavailable || lastError.kind == .timeout || lastError.isClusterUnavailable {
            let kind: AlmanacClientError.Kind = lastError.kind == .timeout || lastError.code == .timeout ? .timeout : .unavailable
            throw AlmanacClientError(kind, code: lastError.code,
                "gave up after \(timeout.nanoseconds / 1_000_000) ms: \(lastError.message)")
        }
        throw lastError
    }

    private func acquireRequestSlot() async {
        if requestsInFlight < configuration.maxInFlightRequests {
            requestsInFlight += 1
            return
        }
        await withCheckedContinuation { requestWaiters.append($0) }  // the releaser hands its slot over
    }

    private func releaseRequestSlot() {
        if requestWaiters.isEmpty {
            requestsInFlight -= 1
        } else {
            requestWaiters.removeFirst().resume()
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds &* 1_000_000_000 &+ duration.components.attoseconds / 1_000_000_000
    }

    func learn(_ endpoint: String) {
        if !endpoints.contains(endpoint) { endpoints.append(endpoint) }
    }

    private func nextEndpoint(after endpoint: String) -> String {
        if let index = endpoints.firstIndex(of: endpoint) {
            endpointCursor = (index + 1) % endpoints.count
        } else {
            endpointCursor = (endpointCursor + 1) % endpoints.count
        }
        return endpoints[endpointCursor]
    }

    func drop(_ endpoint: String) {
        if let connection = connections.removeValue(forKey: endpoint) {
            Task { await connection.close() }
        }
    }

    /// The open connection to `endpoint`, connecting (once, however many callers wait) if needed.
    func connection(to endpoint: String) async -> Result<ClientConnection, ConnectionFailure> {
        if let existing = connections[endpoint], existing.isActive { return .success(existing) }
        connections[endpoint] = nil
        let task: Task<ClientConnection, any Error>
        if let inProgress = connecting[endpoint] {
            task = inProgress
        } else {
            let eventLoop = self.eventLoop
            let timeout = configuration.connectTimeout
            let maxFrameSize = configuration.maxFrameSize
            let tls = configuration.tls
            let authToken = configuration.authToken
            let clientZone = configuration.zone
            task = Task {
                try await ClientConnection.connect(
                    to: endpoint, eventLoop: eventLoop, timeout: timeout, maxFrameSize: maxFrameSize, tls: tls, authToken: authToken,
                    clientZone: clientZone)
            }
            connecting[endpoint] = task
        }
        do {
            let connection = try await task.value
            connecting[endpoint] = nil
            connections[endpoint] = connection
            return .success(connection)
        } catch let failure as ConnectionFailure {
            connecting[endpoint] = nil
            return .failure(failure)
        } catch {
            connecting[endpoint] = nil
            return .failure(.connection("\(error)"))
        }
    }

    // MARK: - Sessions

    /// The session of `shard`, opened on first use.
    private func session(for shard: UInt16) async throws(AlmanacClientError) -> UInt64 {
        if let id = sessions[shard]?.id { return id }  // (not a copy of the whole state)
        let task: Task<UInt64, any Error>
        if let inProgress = openingSessions[shard] {
            task = inProgress
        } else {
            task = Task { try await self.openSession(shard: shard) }
            openingSessions[shard] = task
        }
        do {
            let id = try await task.value
            openingSessions[shard] = nil
            return id
        } catch let error as AlmanacClientError {
            openingSessions[shard] = nil
            throw error
        } catch {
            openingSessions[shard] = nil
            throw AlmanacClientError(.unavailable, "\(error)")
        }
    }

    private func openSession(shard: UInt16) async throws(AlmanacClientError) -> UInt64 {
        var request = Almanac_Api_V1_Request()
        var open = Almanac_Api_V1_OpenSessionRequest()
        open.shardID = UInt32(shard)
        open.clientName = configuration.clientName
        request.openSession = open
        var ambiguous = false
        let response = try await call(request, shard: shard, timeout: configuration.operationTimeout, ambiguous: &ambiguous)
        guard case .openSession(let opened)? = response.result, opened.sessionID != 0 else {
            throw AlmanacClientError(.protocolViolation, "open_session answered without a session")
        }
        sessions[shard] = SessionState(id: opened.sessionID, leaseMilliseconds: opened.leaseMs, lastUsed: .now)
        startKeepAlive()
        return opened.sessionID
    }

    /// Reserves the session's next sequence number. A number is issued only while it stays
    /// within `maxInFlightWritesPerSession` of the oldest unanswered one, so that a retry of the
    /// oldest write always falls inside the server's result window, however long it is stuck
    /// (counting requests in flight is not enough: one stuck write plus a window of newer ones
    /// would push it out). Returns nil if the session was replaced meanwhile.
    private func reserveSequence(shard: UInt16, session: UInt64) async -> UInt64? {
        while true {
            // Mutated in place (through the index), so the state's arrays are never copied.
            guard let index = sessions.index(forKey: shard), sessions.values[index].id == session else { return nil }
            let oldest = sessions.values[index].outstanding.first ?? sessions.values[index].nextSequence
            if sessions.values[index].nextSequence - oldest < UInt64(configuration.maxInFlightWritesPerSession) {
                let sequence = sessions.values[index].nextSequence
                sessions.values[index].nextSequence += 1
                sessions.values[index].outstanding.append(sequence)
                sessions.values[index].lastUsed = .now
                return sequence
            }
            // Writes acknowledged ahead of commit hold their sequence numbers until known durable:
            // ask for the answer that confirms them instead of waiting for one.
            if unconfirmedWrites.contains(shard: shard), !confirming.contains(shard) {
                Task { await self.confirmUnconfirmed(shard: shard) }
            }
            await withCheckedContinuation { continuation in
                sessions.values[index].waiters.append(continuation)
            }
        }
    }

    func releaseSequence(_ sequence: UInt64, shard: UInt16, session: UInt64) {
        guard let index = sessions.index(forKey: shard), sessions.values[index].id == session else { return }
        if let position = sessions.values[index].outstanding.firstIndex(of: sequence) {
            sessions.values[index].outstanding.remove(at: position)
        }
        guard !sessions.values[index].waiters.isEmpty else { return }
        let waiters = sessions.values[index].waiters
        sessions.values[index].waiters = []
        waiters.forEach { $0.resume() }
    }

    /// Keeps idle sessions alive with keep_alive writes at a third of their lease.
    private func startKeepAlive() {
        guard keepAliveTask == nil else { return }
        keepAliveTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let self else { return }
                await self.keepIdleSessionsAlive()
            }
        }
    }

    private func keepIdleSessionsAlive() async {
        for (shard, state) in sessions {
            let third = Duration.milliseconds(Int64(state.leaseMilliseconds) / 3)
            guard ContinuousClock.now - state.lastUsed >= third else { continue }
            var request = Almanac_Api_V1_Request()
            request.keepAlive = Almanac_Api_V1_KeepAliveRequest()
            _ = try? await write(request, shard: shard)
        }
    }
}
