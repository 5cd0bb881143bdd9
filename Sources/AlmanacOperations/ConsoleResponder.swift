import Foundation

/// The live console on the operations endpoint: `/console` (the page), `/console/state` (one JSON
/// ``ConsoleState``) and `/console/events` (server-sent events: the state every `interval`);
/// other paths go to `next`.
public struct ConsoleResponder: OperationsResponder {
    public let next: any OperationsResponder
    public let source: @Sendable () async -> ConsoleState
    public let interval: Duration

    public init(next: any OperationsResponder, interval: Duration = .seconds(1), source: @escaping @Sendable () async -> ConsoleState) {
        self.next = next
        self.source = source
        self.interval = interval
    }

    public func respond(toPath path: String) async -> OperationsResponse {
        switch path {
        case "/console", "/console/":
            return OperationsResponse(status: .ok, contentType: "text/html; charset=utf-8", body: Array(ConsolePage.html.utf8))
        case "/console/state":
            return OperationsResponse(status: .ok, contentType: "application/json", body: await source().json())
        case "/console/events":
            let source = self.source
            let interval = self.interval
            var response = OperationsResponse(status: .ok, contentType: "text/event-stream", body: [])
            response.events = {
                AsyncStream { continuation in
                    let producer = Task {
                        while !Task.isCancelled {
                            let state = await source()
                            continuation.yield(Array("data: ".utf8) + state.json() + Array("\n\n".utf8))
                            try? await Task.sleep(for: interval)
                        }
                        continuation.finish()
                    }
                    continuation.onTermination = { _ in producer.cancel() }
                }
            }
            return response
        default:
            return await next.respond(toPath: path)
        }
    }
}
