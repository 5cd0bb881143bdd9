import AlmanacControl
import Testing

@Suite("Controller lease: one holder, renewals, takeover only after expiry plus the skew margin")
struct ControllerElectionTests {
    let one = ControllerElection(node: 1, leaseMillis: 6_000, skewMarginMillis: 1_000)
    let two = ControllerElection(node: 2, leaseMillis: 6_000, skewMarginMillis: 1_000)

    @Test func firstNodeTakesAnAbsentLeaseWithTermOne() throws {
        let lease = try #require(one.nextLease(current: nil, now: 10_000, mode: .shadow))
        #expect(lease == ControllerLease(holder: 1, term: 1, renewedAtMillis: 10_000, durationMillis: 6_000, mode: .shadow))
        #expect(one.mayAct(holding: lease, now: 14_999))
        #expect(!one.mayAct(holding: lease, now: 15_000))
        #expect(!two.mayAct(holding: lease, now: 10_000))
    }

    @Test func holderRenewsWithTheSameTermAndMode() throws {
        let lease = ControllerLease(holder: 1, term: 4, renewedAtMillis: 10_000, durationMillis: 6_000, mode: .off)
        let renewed = try #require(one.nextLease(current: lease, now: 12_000))
        #expect(renewed.term == 4 && renewed.mode == .off && renewed.renewedAtMillis == 12_000)
    }

    @Test func othersWaitForExpiryPlusMarginThenTakeOverWithTheNextTerm() throws {
        let lease = ControllerLease(holder: 1, term: 4, renewedAtMillis: 10_000, durationMillis: 6_000, mode: .shadow)
        #expect(two.nextLease(current: lease, now: 16_000) == nil)
        #expect(two.nextLease(current: lease, now: 16_999) == nil)
        let taken = try #require(two.nextLease(current: lease, now: 17_000))
        #expect(taken.holder == 2 && taken.term == 5 && taken.mode == .shadow)
        // The old holder stopped acting before the takeover was allowed.
        #expect(!one.mayAct(holding: lease, now: 15_000))
    }

    @Test func leaseRoundTripsAndGarbageIsATypedError() throws {
        let lease = ControllerLease(holder: 3, term: 9, renewedAtMillis: 1, durationMillis: 2, mode: .active)
        #expect(try ControllerLease.decode(lease.encoded()) == lease)
        #expect(throws: ControllerRecordError.self) { try ControllerLease.decode(Array("{".utf8)) }
        #expect(throws: ControllerRecordError.self) { try ControllerLease.decode(Array(#"{"holder":1,"term":1,"renewedAtMillis":1,"durationMillis":1,"mode":"chaos"}"#.utf8)) }
    }
}
