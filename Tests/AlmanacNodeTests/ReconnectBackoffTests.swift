import AlmanacNode
import NIOCore
import Testing

/// Deterministic generator for tests (SplitMix64).
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ReconnectBackoffTests {
    @Test func growsExponentiallyUpToTheCapWithoutJitter() {
        var backoff = ReconnectBackoff(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(100), multiplier: 2, jitter: 0)
        var random = SeededRandom(state: 1)
        let delays = (0..<6).map { _ in backoff.nextDelay(using: &random).nanoseconds / 1_000_000 }
        #expect(delays == [10, 20, 40, 80, 100, 100])
        #expect(backoff.attempts == 6)
        backoff.reset()
        #expect(backoff.nextDelay(using: &random) == .milliseconds(10))
    }

    @Test func jitterStaysWithinBoundsAndVaries() {
        var random = SeededRandom(state: 42)
        var seen: Set<Int64> = []
        for _ in 0..<200 {
            var backoff = ReconnectBackoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(10), jitter: 0.2)
            let delay = backoff.nextDelay(using: &random).nanoseconds
            #expect(delay >= 80_000_000 && delay <= 120_000_000)
            seen.insert(delay)
        }
        #expect(seen.count > 100)
    }

    @Test func manyAttemptsDoNotOverflow() {
        var backoff = ReconnectBackoff(initialDelay: .milliseconds(1), maximumDelay: .seconds(2), jitter: 0.5)
        var random = SeededRandom(state: 7)
        for _ in 0..<10_000 {
            let delay = backoff.nextDelay(using: &random)
            #expect(delay <= .seconds(2) && delay >= .zero)
        }
    }
}
