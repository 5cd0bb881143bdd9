import NIOCore

/// Exponential backoff with jitter for reconnect attempts. A pure value: randomness is passed in.
public struct ReconnectBackoff: Sendable, Hashable {
    public var initialDelay: TimeAmount
    public var maximumDelay: TimeAmount
    /// Growth per failed attempt (at least 1).
    public var multiplier: Double
    /// Each delay is scaled by a random factor in `1 - jitter ... 1 + jitter` (then capped at the maximum).
    public var jitter: Double
    /// Failed attempts since the last ``reset()``.
    public private(set) var attempts: Int = 0

    public init(initialDelay: TimeAmount = .milliseconds(20), maximumDelay: TimeAmount = .seconds(1),
                multiplier: Double = 2, jitter: Double = 0.2) {
        self.initialDelay = .nanoseconds(max(0, initialDelay.nanoseconds))
        self.maximumDelay = .nanoseconds(max(self.initialDelay.nanoseconds, maximumDelay.nanoseconds))
        self.multiplier = max(1, multiplier)
        self.jitter = min(max(0, jitter), 1)
    }

    /// The delay before the next attempt; counts the attempt.
    public mutating func nextDelay<R: RandomNumberGenerator>(using random: inout R) -> TimeAmount {
        let cap = Double(maximumDelay.nanoseconds)
        var base = Double(initialDelay.nanoseconds)
        var step = 0
        while step < attempts && base < cap {
            base *= multiplier
            step += 1
        }
        attempts += 1
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...(1 + jitter), using: &random) : 1
        return .nanoseconds(Int64(min(cap, base * factor)))
    }

    /// Call after a successful connection.
    public mutating func reset() {
        attempts = 0
    }
}
