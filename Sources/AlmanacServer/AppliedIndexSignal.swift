import NIOConcurrencyHelpers

/// Wakes tasks waiting for a group's applied index to pass a value (the system group's watches).
/// Advanced from the host loop (``AlmanacNode/HostObserver/applied``); waiting never blocks a loop.
public final class AppliedIndexSignal: Sendable {
    private struct Waiter {
        var beyond: UInt64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var index: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        /// Waits whose timer fired before they were registered.
        var expired: Set<UInt64> = []
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// The highest index announced.
    public var index: UInt64 { state.withLockedValue { $0.index } }

    /// Announces that `index` was applied: wakes every waiter waiting beyond a lower index.
    public func advance(to index: UInt64) {
        let woken: [CheckedContinuation<Void, Never>] = state.withLockedValue { state in
            guard index > state.index else { return [] }
            state.index = index
            let ready = state.waiters.filter { $0.value.beyond < index }
            for id in ready.keys { state.waiters.removeValue(forKey: id) }
            return ready.values.map(\.continuation)
        }
        woken.forEach { $0.resume() }
    }

    /// Returns once an index above `beyond` was announced, or after `timeout`, whichever is first.
    public func wait(beyond: UInt64, timeout: Duration) async {
        let id: UInt64 = state.withLockedValue { state in
            state.nextID += 1
            return state.nextID
        }
        let timer = Task { [self] in
            do { try await Task.sleep(for: timeout) } catch { return }
            expire(id)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready: Bool = state.withLockedValue { state in
                if state.index > beyond || state.expired.remove(id) != nil { return true }
                state.waiters[id] = Waiter(beyond: beyond, continuation: continuation)
                return false
            }
            if ready { continuation.resume() }
        }
        timer.cancel()
        _ = state.withLockedValue { $0.expired.remove(id) }
    }

    private func expire(_ id: UInt64) {
        let waiter: Waiter? = state.withLockedValue { state in
            guard let waiter = state.waiters.removeValue(forKey: id) else {
                state.expired.insert(id)
                return nil
            }
            return waiter
        }
        waiter?.continuation.resume()
    }
}
