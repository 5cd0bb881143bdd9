import Testing
@testable import AlmanacStorage

@Test func moduleLinks() {
    #expect(Bool(true))
}
