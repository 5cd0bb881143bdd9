import AlmanacMetadata
import AlmanacNode
import Foundation
import AlmanacWire

/// Serves one request: translate, call the ``MetadataService``, translate the answer back.
/// Never throws: every failure becomes a response with a typed error.
public struct RequestExecutor: Sendable {
    public let service: any MetadataService
    public let translator: RequestTranslator
    /// Sees every request and its response (metrics); nil costs nothing.
    public let observer: (any RequestObserver)?

    /// Counts every served request per segment (`update_access_pattern`); nil: not counted.
    public let access: SegmentAccessMonitor?

    /// Checks tokens and paths before anything executes (docs/security.md); nil: no checks.
    public let authorizer: RequestAuthorizer?

    /// Answers placement calls; nil: UNSUPPORTED.
    public let placement: PlacementCallEndpoint?

    public init(service: any MetadataService, translator: RequestTranslator = RequestTranslator(),
                observer: (any RequestObserver)? = nil, access: SegmentAccessMonitor? = nil,
                authorizer: RequestAuthorizer? = nil, placement: PlacementCallEndpoint? = nil) {
        self.access = access
        self.placement = placement
        self.authorizer = authorizer
        self.service = service
        self.translator = translator
        self.observer = observer
    }

    /// Serves `request` and returns the response (see ``execute(_:completion:)``).
    public func execute(_ request: Almanac_Api_V1_Request) async -> Almanac_Api_V1_Response {
        await withCheckedContinuation { continuation in
            execute(request) { continuation.resume(returning: $0) }
        }
    }

    /// Registers a session (rare): through the service's async API.
    private func openSession(shard: ShardID, requestID id: UInt64) async -> Almanac_Api_V1_Response {
        do throws(ServiceError) {
            let (session, index) = try await service.registerSession(shard: shard)
            return translator.response(
                requestID: id, shard: shard, session: session, index: index, leaseMilliseconds: service.sessionLeaseMilliseconds)
        } catch {
            return translator.errorResponse(requestID: id, shard: shard, RequestTranslator.apiError(error))
        }
    }

    /// The cluster's status (rare): through the service's async API.
    private func clusterStatus(requestID id: UInt64, stateDigests: Bool) async -> Almanac_Api_V1_Response {
        do throws(ServiceError) {
            var response = Almanac_Api_V1_Response()
            response.requestID = id
            response.clusterStatus = try await service.clusterStatus(stateDigests: stateDigests)
            if let access {
                let (loads, lastBucket) = access.wire(map: translator.currentMap)
                response.clusterStatus.segmentLoads = loads
                response.clusterStatus.accessLastBucket = lastBucket
                response.clusterStatus.accessWindowSeconds = UInt32(access.windowSeconds)
                response.clusterStatus.accessBucketSeconds = UInt32(access.bucketLength)
            }
            return response
        } catch {
            return translator.errorResponse(requestID: id, shard: nil, RequestTranslator.apiError(error))
        }
    }

    /// A call on the system group's register (rare, control path): through the service's async API.
    private func systemStore(key: String, call: SystemStoreCall, requestID id: UInt64) async -> Almanac_Api_V1_Response {
        guard let store = service as? any SystemStoreService else {
            return translator.errorResponse(requestID: id, shard: nil, APIError(.unsupported, "this node serves no system group"))
        }
        do throws(ServiceError) {
            let outcome = try await store.systemStore(key: key, call: call)
            var response = Almanac_Api_V1_Response()
            response.requestID = id
            var result = Almanac_Api_V1_SystemStoreResponse()
            if let record = outcome.record {
                result.found = true
                result.value = Data(record.value)
                result.revision = record.revision
            }
            result.conflict = outcome.conflict
            result.versions = outcome.versions.map { version in
                var wire = Almanac_Api_V1_SystemStoreVersion()
                wire.value = Data(version.value)
                wire.revision = version.revision
                return wire
            }
            response.systemStore = result
            return response
        } catch {
            return translator.errorResponse(requestID: id, shard: nil, RequestTranslator.apiError(error))
        }
    }

    /// A step of replica migration (rare, control path): through the service's async API.
    private func replicaAdmin(shard: ShardID, call: ReplicaAdminCall, requestID id: UInt64) async -> Almanac_Api_V1_Response {
        guard let admin = service as? any ReplicaAdminService else {
            return translator.errorResponse(requestID: id, shard: shard, APIError(.unsupported, "this node's shards have no runtime membership"))
        }
        do throws(ServiceError) {
            let view = try await admin.replicaAdmin(shard: shard, call: call)
            var response = Almanac_Api_V1_Response()
            response.requestID = id
            response.shardID = UInt64(shard)
            response.replicaAdmin = Self.wire(view)
            return response
        } catch {
            return translator.errorResponse(requestID: id, shard: shard, RequestTranslator.apiError(error))
        }
    }

    /// A placement call (rare, control path): through the control plane's endpoint.
    private func placement(_ call: Almanac_Api_V1_PlacementRequest, requestID id: UInt64) async -> Almanac_Api_V1_Response {
        guard let placement else {
            return translator.errorResponse(requestID: id, shard: nil, APIError(.unsupported, "this server answers no placement calls"))
        }
        switch await placement.call(call) {
        case .success(let result):
            var response = Almanac_Api_V1_Response()
            response.requestID = id
            response.placement = result
            return response
        case .failure(let error):
            return translator.errorResponse(requestID: id, shard: nil, error)
        }
    }

    static func wire(_ view: ReplicaConfiguration?) -> Almanac_Api_V1_ReplicaAdminResponse {
        var wire = Almanac_Api_V1_ReplicaAdminResponse()
        guard let view else { return wire }
        wire.hosted = true
        wire.responderNodeID = view.responder
        wire.leaderNodeID = view.leader
        wire.term = view.term
        wire.voters = view.voters
        wire.outgoingVoters = view.outgoingVoters
        wire.learners = view.learners
        wire.commitIndex = view.commitIndex
        wire.lastIndex = view.lastIndex
        wire.appliedIndex = view.appliedIndex
        wire.progress = Set(view.matchIndex.keys).union(view.snapshotBytesSent.keys).sorted().map { node in
            var progress = Almanac_Api_V1_ReplicaProgress()
            progress.nodeID = node
            progress.matchIndex = view.matchIndex[node] ?? 0
            progress.snapshotBytesSent = view.snapshotBytesSent[node] ?? 0
            return progress
        }
        return wire
    }

    /// Serves `request`: writes and reads go through the service's completion API (no task per
    /// request; a backend on the caller's event loop answers without a thread hop); `completion`
    /// runs exactly once, on any thread. Never fails: every failure is a response with a typed error.
    public func execute(_ request: Almanac_Api_V1_Request, completion answer: @escaping @Sendable (Almanac_Api_V1_Response) -> Void) {
        guard let authorizer else { return executeAuthorized(request, completion: answer) }
        let executor = self
        authorizer.authorize(request) { refusal in
            if let refusal {
                answer(executor.translator.errorResponse(requestID: request.requestID, refusal))
            } else {
                executor.executeAuthorized(request, completion: answer)
            }
        }
    }

    /// ``execute(_:completion:)`` once the request is allowed.
    private func executeAuthorized(_ request: Almanac_Api_V1_Request, completion answer: @escaping @Sendable (Almanac_Api_V1_Response) -> Void) {
        let completion = observed(request, answer)
        let id = request.requestID
        let routed: RoutedRequest
        switch translator.route(request) {
        case .success(let value): routed = value
        case .failure(let error): return completion(translator.errorResponse(requestID: id, error))
        }
        access?.record(routed, clientZone: request.clientZone)
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
        case .openSession(let shard):
            let executor = self
            Task { completion(await executor.openSession(shard: shard, requestID: id)) }
        case .clusterStatus(let stateDigests):
            let executor = self
            Task { completion(await executor.clusterStatus(requestID: id, stateDigests: stateDigests)) }
        case .shardCommand(let shard, .exportSegments(let handoff, let after, let budget)):
            // The hand-off driver's copy: a leader read of frozen records, not a journal entry. A
            // refusal (not frozen here) is answered as the command's result, like a journaled one.
            service.read(shard: shard, consistency: .linearizable, query: .exportSegments(handoff, after: after, budgetBytes: budget)) { result in
                let commandResult: CommandResult
                switch result {
                case .success(let outcome):
                    switch outcome.result {
                    case .success(.exportPage(let page)): commandResult = .success(.exportPage(page))
                    case .success: commandResult = .failure(MetadataError(.internalInconsistency, "export answered with another result"))
                    case .failure(let error): commandResult = .failure(error)
                    }
                    completion(Self.shardCommandResponse(requestID: id, shard: shard, index: outcome.appliedIndex, result: commandResult))
                case .failure(let error):
                    completion(translator.errorResponse(requestID: id, shard: shard, RequestTranslator.apiError(error)))
                }
            }
        case .shardCommand(let shard, let operation):
            service.submit(shard: shard, operation: operation, session: nil, durability: .majority) { result in
                switch result {
                case .success(let outcome):
                    completion(Self.shardCommandResponse(requestID: id, shard: shard, index: outcome.index, result: outcome.result))
                case .failure(let error):
                    completion(translator.errorResponse(requestID: id, shard: shard, RequestTranslator.apiError(error)))
                }
            }
        case .systemStore(let key, let call):
            let executor = self
            Task { completion(await executor.systemStore(key: key, call: call, requestID: id)) }
        case .replicaAdmin(let shard, let call):
            let executor = self
            Task { completion(await executor.replicaAdmin(shard: shard, call: call, requestID: id)) }
        case .placement(let call):
            let executor = self
            Task { completion(await executor.placement(call, requestID: id)) }
        case .shardMap:
            var response = Almanac_Api_V1_Response()
            response.requestID = id
            response.shardMap = translator.currentWireMap
            if let health = translator.live?.health {
                response.shardMap.backendHealthy = health.healthy
                response.shardMap.backendDetail = health.detail
            }
            completion(response)
        }
    }

    /// The answer to a shard command: its result in the journal codec and the index it was applied at.
    static func shardCommandResponse(requestID: UInt64, shard: ShardID, index: UInt64, result: CommandResult) -> Almanac_Api_V1_Response {
        var response = Almanac_Api_V1_Response()
        response.requestID = requestID
        response.shardID = UInt64(shard)
        response.appliedIndex = index
        var command = Almanac_Api_V1_ShardCommandResponse()
        command.result = Data(result.encoded())
        response.shardCommand = command
        return response
    }

    /// `answer`, preceded by the observer's `requestFinished` when there is an observer.
    private func observed(_ request: Almanac_Api_V1_Request, _ answer: @escaping @Sendable (Almanac_Api_V1_Response) -> Void)
        -> @Sendable (Almanac_Api_V1_Response) -> Void
    {
        guard let observer else { return answer }
        let observation = observer.requestStarted(request)
        return { response in
            observer.requestFinished(observation, response: response)
            answer(response)
        }
    }
}
