import Testing
@testable import AlmanacPredict

@Test func moduleLinks() {
    #expect(Bool(true))
}
