import Testing
@testable import AlmanacMetadata

@Test func moduleLinks() {
    #expect(Bool(true))
}
