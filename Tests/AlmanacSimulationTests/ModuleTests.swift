import Testing
@testable import AlmanacSimulation

@Test func moduleLinks() {
    #expect(Bool(true))
}
