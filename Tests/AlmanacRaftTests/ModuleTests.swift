import Testing
@testable import AlmanacRaft

@Test func moduleLinks() {
    #expect(Bool(true))
}
