import Testing
@testable import AlmanacPlacement

@Test func moduleLinks() {
    #expect(Bool(true))
}
