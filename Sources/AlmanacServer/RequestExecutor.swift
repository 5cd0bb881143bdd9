import AlmanacMetadata
import AlmanacWire

/// Serves one request: translate, call the ``MetadataService``, translate the answer back.
/// Never throws: every failure becomes a response with a typed error.
public struct RequestExecutor: Sendable {
    public let service: any MetadataService
    public let translator: RequestTranslator

    public init(service: any MetadataService, translator: RequestTranslator = RequestTranslator()) {
        self.service = service
        self.translator = translator
    }

    public func execute(_ request: Almanac_Api_V1_Request) async -> Almanac_Api_V1_Response {
        let id = request.requestID
        let routed: RoutedRequest
        switch translator.route(request) {
        case .success(let value): routed = value
        case .failure(let error): return translator.errorResponse(requestID: id, error)
        }
        do throws(ServiceError) {
            switch routed {
            case .write(let shard, let operation, let session, let durability):
                let outcome = try await service.submit(shard: shard, operation: operation, session: session, durability: durability)
                return translator.response(requestID: id, shard: shard, write: outcome)
            case .createOrOpenExisting(let shard, let operation, let session, let durability):
                let outcome = try await service.submit(shard: shard, operation: operation, session: session, durability: durability)
                guard outcome.result.errorCode == .eexist, case .create(let parent, let name, _, _, _) = operation else {
                    return translator.response(requestID: id, shard: shard, write: outcome)
                }
                let existing = try await service.read(shard: shard, consistency: .linearizable, query: .lookup(parent: parent, name: name))
                if case .success(.attributes(let attributes)) = existing.result, attributes.type == .regular {
                    return translator.response(requestID: id, shard: shard, read: existing)
                }
                return translator.response(requestID: id, shard: shard, write: outcome)
            case .read(let shard, let consistency, let query):
                let outcome = try await service.read(shard: shard, consistency: consistency, query: query)
                return translator.response(requestID: id, shard: shard, read: outcome)
            case .openSession(let shard):
                let (session, index) = try await service.registerSession(shard: shard)
                return translator.response(
                    requestID: id, shard: shard, session: session, index: index, leaseMilliseconds: service.sessionLeaseMilliseconds)
            case .clusterStatus:
                var response = Almanac_Api_V1_Response()
                response.requestID = id
                response.clusterStatus = try await service.clusterStatus()
                return response
            }
        } catch {
            return translator.errorResponse(requestID: id, shard: routed.shard, RequestTranslator.apiError(error))
        }
    }

    /// ``execute(_:)`` without suspending: writes and reads go through the service's completion
    /// API (no task per request); `completion` runs exactly once, on any thread.
    public func execute(_ request: Almanac_Api_V1_Request, completion: @escaping @Sendable (Almanac_Api_V1_Response) -> Void) {
        let id = request.requestID
        let routed: RoutedRequest
        switch translator.route(request) {
        case .success(let value): routed = value
        case .failure(let error): return completion(translator.errorResponse(requestID: id, error))
        }
        let translator = self.translator
        let service = self.service
        switch routed {
        case .write(let shard, let operation, let session, let durability):
            service.submit(shard: shard, operation: operation, session: session, durability: durability) { result in
                switch result {
                case .success(let outcome): completion(translator.response(requestID: id, shard: shard, write: outcome))
                case .failure(let error): completion(translator.errorResponse(requestID: id, shard: shard, RequestTranslator.apiError(error)))
                }
            }
        case .createOrOpenExisting(let shard, let operation, let session, let durability):
            service.submit(shard: shard, operation: operation, session: session, durability: durability) { result in
                let outcome: WriteOutcome
                switch result {
                case .success(let value): outcome = value
                case .failure(let error):
                    return completion(translator.errorResponse(requestID: id, shard: shard, RequestTranslator.apiError(error)))
                }
                guard outcome.result.errorCode == .eexist, case .create(let parent, let name, _, _, _) = operation else {
                    return completion(translator.response(requestID: id, shard: shard, write: outcome))
                }
                service.read(shard: shard, consistency: .linearizable, query: .lookup(parent: parent, name: name)) { lookup in
                    switch lookup {
                    case .success(let existing):
                        if case .success(.attributes(let attributes)) = existing.result, attributes.type == .regular {
                            return completion(translator.response(requestID: id, shard: shard, read: existing))
                        }
                        completion(translator.response(requestID: id, shard: shard, write: outcome))
                    case .failure(let error):
                        completion(translator.errorResponse(requestID: id, shard: shard, RequestTranslator.apiError(error)))
                    }
                }
            }
        case .read(let shard, let consistency, let query):
            service.read(shard: shard, consistency: consistency, query: query) { result in
                switch result {
                case .success(let outcome): completion(translator.response(requestID: id, shard: shard, read: outcome))
                case .failure(let error): completion(translator.errorResponse(requestID: id, shard: shard, RequestTranslator.apiError(error)))
                }
            }
        case .openSession, .clusterStatus:
            let executor = self
            Task { completion(await executor.execute(request)) }
        }
    }
}
