import AlmanacClient
import AlmanacServer
import AlmanacServerTestSupport
import Logging
import NIOCore

/// One API server over the in-process test double, and a client pointed at it.
struct TestServer {
    let server: APIServer
    let service: InProcessMetadataService

    static func start(
        configuration: APIServerConfiguration = APIServerConfiguration(), sessionLeaseMilliseconds: UInt32 = 60_000
    ) async throws -> TestServer {
        let service = InProcessMetadataService(sessionLeaseMilliseconds: sessionLeaseMilliseconds)
        var logger = Logger(label: "almanac.api.test")
        logger.logLevel = .warning
        let server = try await APIServer.start(service: service, configuration: configuration, logger: logger)
        return TestServer(server: server, service: service)
    }

    var endpoint: String { server.endpoint }

    func client(
        attemptTimeout: TimeAmount = .seconds(2), operationTimeout: TimeAmount = .seconds(10), extraEndpoints: [String] = []
    ) -> AlmanacClient {
        AlmanacClient(configuration: AlmanacClientConfiguration(
            endpoints: extraEndpoints + [endpoint], attemptTimeout: attemptTimeout, operationTimeout: operationTimeout,
            initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(50)))
    }

    func stop() async { await server.shutdown() }
}
