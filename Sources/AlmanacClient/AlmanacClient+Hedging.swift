import AlmanacWire
import NIOConcurrencyHelpers
import NIOCore

/// The outcomes of the attempts of one hedged request, and its timer ticks, for the caller to take
/// one at a time. Late deliveries (after the caller is done) are dropped.
final class AttemptMailbox: Sendable {
    enum Event: Sendable {
        /// Attempt number `tag` finished.
        case answer(Int, AttemptResult)
        /// Timer `generation` fired.
        case tick(Int)
    }

    private struct State {
        var queue: [Event] = []
        var waiter: CheckedContinuation<Event, Never>?
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    func deliver(_ event: Event) {
        let waiter: CheckedContinuation<Event, Never>? = state.withLockedValue { state in
            guard !state.closed else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.queue.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// The next event (waits for one).
    func next() async -> Event {
        await withCheckedContinuation { continuation in
            let ready: Event? = state.withLockedValue { state in
                if !state.queue.isEmpty { return state.queue.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func close() {
        state.withLockedValue { state in
            state.closed = true
            state.queue.removeAll()
        }
    }
}

/// The timer of all hedged attempts of one client: one repeating tick (every `resolution`, only
/// while attempts are registered) instead of a NIO timer per request, whose cancellation would cost
/// a linear search of the loop's scheduled tasks on every answered request.
final class HedgeTicker: Sendable {
    private struct Entry {
        var mailbox: AttemptMailbox
        var due: NIODeadline
        var generation: Int
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var running = false
    }

    private let state = NIOLockedValueBox(State())
    private let eventLoop: any EventLoop
    private let resolution: TimeAmount

    init(eventLoop: any EventLoop, resolution: TimeAmount) {
        self.eventLoop = eventLoop
        self.resolution = .nanoseconds(max(1_000_000, resolution.nanoseconds))
    }

    /// Delivers `.tick(generation)` to `mailbox` once `due` has passed (within `resolution`).
    func register(_ mailbox: AttemptMailbox, due: NIODeadline, generation: Int) -> UInt64 {
        let (id, start) = state.withLockedValue { state in
            state.nextID += 1
            state.entries[state.nextID] = Entry(mailbox: mailbox, due: due, generation: generation)
            defer { state.running = true }
            return (state.nextID, !state.running)
        }
        if start { scheduleFire() }
        return id
    }

    func reschedule(_ id: UInt64, due: NIODeadline, generation: Int) {
        state.withLockedValue { state in
            state.entries[id]?.due = due
            state.entries[id]?.generation = generation
        }
    }

    func unregister(_ id: UInt64) {
        state.withLockedValue { _ = $0.entries.removeValue(forKey: id) }
    }

    private func scheduleFire() {
        eventLoop.scheduleTask(in: resolution) { self.fire() }
    }

    private func fire() {
        let now = NIODeadline.now()
        let (due, keepRunning) = state.withLockedValue { state -> ([(AttemptMailbox, Int)], Bool) in
            let ids = state.entries.compactMap { $0.value.due <= now ? $0.key : nil }
            var due: [(AttemptMailbox, Int)] = []
            for id in ids {
                guard let entry = state.entries[id] else { continue }
                due.append((entry.mailbox, entry.generation))
                state.entries[id]?.due = .distantFuture  // one shot until rescheduled
            }
            if state.entries.isEmpty { state.running = false }
            return (due, state.running)
        }
        for (mailbox, generation) in due { mailbox.deliver(.tick(generation)) }
        if keepRunning { scheduleFire() }
    }
}

/// The bookkeeping of one hedged attempt: which endpoint each tag went to, which are unanswered,
/// and the attempt's timer registration. Not `Sendable`: it lives and dies inside one call of the
/// client actor's `hedgedAttempt`, and only the mailbox and the ticker (both lock-protected) are
/// handed to other threads.
final class HedgeState {
    let mailbox: AttemptMailbox
    let ticker: HedgeTicker
    var targets: [String] = []
    var inFlight: Set<Int> = []
    var generation = 0
    var ticket: UInt64?

    init(mailbox: AttemptMailbox, ticker: HedgeTicker) {
        self.mailbox = mailbox
        self.ticker = ticker
    }

    /// Delivers a tick of a new generation after `delay` (at once when it is not positive).
    func schedule(_ delay: TimeAmount) {
        generation += 1
        if delay.nanoseconds <= 0 {
            mailbox.deliver(.tick(generation))
        } else if let ticket {
            ticker.reschedule(ticket, due: .now() + delay, generation: generation)
        } else {
            ticket = ticker.register(mailbox, due: .now() + delay, generation: generation)
        }
    }

    func isInFlight(_ endpoint: String) -> Bool { inFlight.contains { targets[$0] == endpoint } }

    func finish() {
        if let ticket { ticker.unregister(ticket) }
        ticket = nil
    }
}

extension AlmanacClient {
    /// What one (possibly hedged) attempt of `call` produced: the endpoint that answered, its
    /// outcome, and whether another attempt of the same request was still unanswered (then the
    /// request may have been applied there too: the outcome counts as ambiguous).
    struct HedgedAnswer {
        var target: String
        var outcome: AttemptResult
        var abandonedOthers: Bool
    }

    /// One attempt at `target`, hedged: if it has not answered after `configuration.hedgeDelay`,
    /// the same request (same session and sequence, so it is applied at most once) also goes to
    /// another endpoint, and again every `hedgeDelay / 2` while nothing useful came back, until the
    /// attempt's deadline. The first useful answer wins; the others are abandoned.
    ///
    /// This is what moves clients off a hung leader (a paused process still accepts TCP data, so
    /// the connection does not fail): its followers answer NOT_LEADER pointing at the hung node,
    /// or UNAVAILABLE, until they elect a new leader; from then on they point at it (the hint is
    /// followed at once) or, being the new leader, serve the request. Without hedging the request
    /// would wait for the whole attempt timeout.
    ///
    /// A hedge's answer ends the attempt when it is a success or a definitive error; NOT_LEADER,
    /// UNAVAILABLE, TIMEOUT and connection failures only steer the next hedge. The primary's own
    /// answer, whatever it is, ends the attempt (`call` handles it as before).
    func hedgedAttempt(
        _ request: Almanac_Api_V1_Request, shard: UInt16?, target: String, timeout attempt: TimeAmount
    ) async -> HedgedAnswer {
        guard let hedgeDelay = configuration.hedgeDelay, hedgeDelay.nanoseconds > 0, attempt > hedgeDelay, endpoints.count > 1 else {
            return HedgedAnswer(target: target, outcome: await singleAttempt(request, target: target, timeout: attempt),
                                abandonedOthers: false)
        }
        let mailbox = AttemptMailbox()
        let clock = ContinuousClock()
        let deadline = clock.now + .nanoseconds(attempt.nanoseconds)
        let interval = TimeAmount.nanoseconds(max(1_000_000, hedgeDelay.nanoseconds / 2))
        // The attempt's bookkeeping lives in a reference of its own: no local function captures
        // mutable locals across suspension points (a release build crashed on such captures).
        let state = HedgeState(mailbox: mailbox, ticker: hedgeTicker)
        defer {
            state.finish()
            mailbox.close()
        }
        func remaining() -> TimeAmount { .nanoseconds(max(1, Self.nanoseconds(deadline - clock.now))) }
        state.targets.append(target)
        state.inFlight.insert(0)
        switch await connection(to: target) {
        case .success(let connection):
            connection.send(request, timeout: attempt, completion: .callback { mailbox.deliver(.answer(0, $0)) })
        case .failure(let failure):
            return HedgedAnswer(target: target, outcome: .failure(failure), abandonedOthers: false)
        }
        state.schedule(hedgeDelay)
        var hint: String?
        var cursor = target
        while true {
            switch await mailbox.next() {
            case .tick(let tick):
                guard tick == state.generation, clock.now < deadline else { continue }
                // Where to hedge: a fresh hint, else the shard's leader as others learned it, else
                // the next endpoint round-robin; never where an attempt is still in flight.
                var next: String?
                if let candidate = hint, !state.isInFlight(candidate) { next = candidate }
                hint = nil
                if next == nil, let shard, let known = leaderByShard[shard], !state.isInFlight(known) { next = known }
                if next == nil {
                    for _ in 0..<endpoints.count {
                        cursor = endpointAfter(cursor)
                        if !state.isInFlight(cursor) {
                            next = cursor
                            break
                        }
                    }
                }
                if let next {
                    let tag = state.targets.count
                    state.targets.append(next)
                    state.inFlight.insert(tag)
                    switch await connection(to: next) {
                    case .success(let connection):
                        connection.send(request, timeout: remaining(), completion: .callback { mailbox.deliver(.answer(tag, $0)) })
                    case .failure(let failure):
                        mailbox.deliver(.answer(tag, .failure(failure)))
                    }
                }
                if clock.now < deadline { state.schedule(min(interval, remaining())) }
            case .answer(let tag, let outcome):
                state.inFlight.remove(tag)
                let from = state.targets[tag]
                if tag == 0 {
                    return HedgedAnswer(target: from, outcome: outcome, abandonedOthers: !state.inFlight.isEmpty)
                }
                switch outcome {
                case .success(let response) where !response.hasError || response.error.code == .ok:
                    return HedgedAnswer(target: from, outcome: outcome, abandonedOthers: !state.inFlight.isEmpty)
                case .success(let response):
                    switch response.error.code {
                    case .notLeader:
                        let address = response.error.leaderHint.address
                        if !address.isEmpty, !state.isInFlight(address) {
                            learn(address)
                            hint = address
                            state.schedule(.nanoseconds(0))  // follow it now
                        }
                    case .unavailable, .timeout:
                        break  // the next tick tries elsewhere
                    default:
                        return HedgedAnswer(target: from, outcome: outcome, abandonedOthers: !state.inFlight.isEmpty)
                    }
                case .failure(.connection):
                    drop(from)
                case .failure(.timedOut):
                    break
                case .failure(.protocolViolation), .failure(.unsendable):
                    return HedgedAnswer(target: from, outcome: outcome, abandonedOthers: !state.inFlight.isEmpty)
                }
            }
        }
    }

    /// One plain attempt at `target`.
    func singleAttempt(_ request: Almanac_Api_V1_Request, target: String, timeout: TimeAmount) async -> AttemptResult {
        switch await connection(to: target) {
        case .success(let connection):
            return await withUnsafeContinuation { continuation in
                connection.send(request, timeout: timeout, continuation: continuation)
            }
        case .failure(let failure):
            return .failure(failure)
        }
    }

    /// The endpoint after `endpoint` in the list, without moving the shared cursor.
    func endpointAfter(_ endpoint: String) -> String {
        guard let index = endpoints.firstIndex(of: endpoint) else { return endpoints[0] }
        return endpoints[(index + 1) % endpoints.count]
    }
}
