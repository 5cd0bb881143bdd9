import AlmanacMetadata
import AlmanacServerTestSupport
import AlmanacWire
import Logging
import NIOCore
import Testing

@testable import AlmanacServer

private func lookupRequest(id: UInt64, name: String = "nothing-here") -> Almanac_Api_V1_Request {
    var request = Almanac_Api_V1_Request()
    request.requestID = id
    var lookup = Almanac_Api_V1_LookupRequest()
    lookup.parent = 1
    lookup.name = name
    request.lookup = lookup
    return request
}

/// Starts a server over a fresh test-double service.
private func startServer(
    _ configuration: APIServerConfiguration = APIServerConfiguration(protocolErrorDrainTimeout: .milliseconds(500))
) async throws -> (APIServer, InProcessMetadataService) {
    let service = InProcessMetadataService()
    var logger = Logger(label: "almanac.api.test")
    logger.logLevel = .warning
    let server = try await APIServer.start(service: service, configuration: configuration, logger: logger)
    return (server, service)
}

/// A valid request on a new connection still gets its answer.
private func expectServing(_ server: APIServer) async throws {
    let probe = try await RawConnection.connect(to: server.localAddress)
    try await probe.send(lookupRequest(id: 77))
    let answered = await probe.wait { $0.responses.count == 1 }
    #expect(answered)
    #expect(probe.responses.first?.requestID == 77)
    #expect(probe.responses.first?.error.code == .enoent)
    await probe.close()
}

@Suite struct APIServerTests {
    @Test func answersARequestOverLoopback() async throws {
        let (server, _) = try await startServer()
        let connection = try await RawConnection.connect(to: server.localAddress)
        try await connection.send(lookupRequest(id: 5, name: "x"))
        #expect(await connection.wait { $0.responses.count == 1 })
        let response = try #require(connection.responses.first)
        #expect(response.requestID == 5)
        #expect(response.error.code == .enoent)
        #expect(response.error.message.contains("x"))
        #expect(!connection.isClosed)
        await connection.close()
        await server.shutdown()
    }

    @Test(arguments: [
        ("malformed body", RawConnection.rawFrame(type: 0x01, body: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), Almanac_Api_V1_ErrorCode.protocolError),
        ("unknown frame type", RawConnection.rawFrame(type: 0x55, body: [1, 2, 3]), .protocolError),
        ("response frame sent to the server", RawConnection.rawFrame(type: 0x02, body: []), .protocolError),
        ("peer frame on a client connection", RawConnection.rawFrame(type: 0x11, body: []), .protocolError),
        ("zero length", [0, 0, 0, 0, 0x01], .protocolError),
        ("oversized frame", [0x00, 0x20, 0x00, 0x00, 0x01, 0, 0, 0], .tooLarge),
    ])
    func badInputGetsProtocolErrorAndCleanClose(_ name: String, _ bytes: [UInt8], _ code: Almanac_Api_V1_ErrorCode) async throws {
        let (server, _) = try await startServer()
        let bystander = try await RawConnection.connect(to: server.localAddress)
        let offender = try await RawConnection.connect(to: server.localAddress)
        // A valid request first: it is answered before the bad frame closes the connection.
        try await offender.send(RawConnection.frame(lookupRequest(id: 1)) + bytes)
        let closed = await offender.wait { $0.isClosed }
        #expect(closed, "\(name): connection not closed")
        let error = try #require(offender.protocolError, "\(name): no protocol-error frame")
        #expect(error.code == code, "\(name)")
        #expect(!error.message.isEmpty)
        // The error frame is the last frame before EOF.
        #expect(offender.frames.last?.type == .protocolError)
        // Other connections, old and new, keep being served.
        try await bystander.send(lookupRequest(id: 2))
        #expect(await bystander.wait { $0.responses.count == 1 })
        #expect(!bystander.isClosed)
        try await expectServing(server)
        #expect(server.statistics.protocolViolations == 1)
        await bystander.close()
        await server.shutdown()
    }

    @Test func requestWithoutAKnownOperationGetsUnsupportedAndTheConnectionStays() async throws {
        let (server, _) = try await startServer()
        let connection = try await RawConnection.connect(to: server.localAddress)
        var unknown = Almanac_Api_V1_Request()
        unknown.requestID = 9
        // Field 99 (a future operation) is kept as an unknown field by older servers.
        let body: [UInt8] = try unknown.serializedBytes() + [0x9A, 0x06, 0x00]
        try await connection.send(RawConnection.rawFrame(type: 0x01, body: body))
        try await connection.send(lookupRequest(id: 10))
        #expect(await connection.wait { $0.responses.count == 2 })
        let byID = Dictionary(uniqueKeysWithValues: connection.responses.map { ($0.requestID, $0) })
        #expect(byID[9]?.error.code == .unsupported)
        #expect(byID[10]?.error.code == .enoent)
        #expect(!connection.isClosed)
        await connection.close()
        await server.shutdown()
    }

    @Test func pipelinedRequestsAreAllAnsweredAndBounded() async throws {
        let (server, service) = try await startServer(APIServerConfiguration(maxOutstandingPerConnection: 4))
        await service.setDelay(.milliseconds(50))
        let connection = try await RawConnection.connect(to: server.localAddress)
        var bytes: [UInt8] = []
        for id in 1...40 { bytes += try RawConnection.frame(lookupRequest(id: UInt64(id), name: "n\(id)")) }
        try await connection.send(bytes)
        #expect(await connection.wait(seconds: 10) { $0.responses.count == 40 })
        let responses = connection.responses
        #expect(Set(responses.map(\.requestID)) == Set(1...40))
        for response in responses {
            #expect(response.error.code == .enoent || response.error.code == .unavailable, "\(response.error)")
            if response.error.code == .unavailable { #expect(response.error.message.contains("outstanding")) }
        }
        #expect(await service.maxConcurrent <= 4)
        #expect(await service.maxConcurrent >= 2)  // they did overlap
        await connection.close()
        await server.shutdown()
    }

    @Test func slowRequestsTimeOut() async throws {
        let (server, service) = try await startServer()
        await service.setDelay(.milliseconds(400))
        let connection = try await RawConnection.connect(to: server.localAddress)
        var request = lookupRequest(id: 3)
        request.timeoutMs = 20
        try await connection.send(request)
        #expect(await connection.wait { $0.responses.count == 1 })
        #expect(connection.responses.first?.error.code == .timeout)
        // The late result is dropped: still exactly one response.
        try await Task.sleep(for: .milliseconds(600))
        #expect(connection.responses.count == 1)
        await connection.close()
        await server.shutdown()
    }

    @Test func duplicateOutstandingRequestIDIsRefused() async throws {
        let (server, service) = try await startServer()
        await service.setDelay(.milliseconds(200))
        let connection = try await RawConnection.connect(to: server.localAddress)
        try await connection.send(RawConnection.frame(lookupRequest(id: 8)) + RawConnection.frame(lookupRequest(id: 8)))
        #expect(await connection.wait { $0.responses.count == 2 })
        let codes = connection.responses.map(\.error.code)
        #expect(codes.contains(.einval) && codes.contains(.enoent))
        await connection.close()
        await server.shutdown()
    }
}
