import AlmanacWire
import NIOConcurrencyHelpers

/// Answers one placement call (the seed's placement API, docs/controller.md).
public typealias PlacementCallHandler = @Sendable (Almanac_Api_V1_PlacementRequest) async -> Result<Almanac_Api_V1_PlacementResponse, APIError>

/// Where the server sends placement calls. The control plane that answers them needs the map store,
/// which starts after the server listens, so it is installed late; until then a call is UNAVAILABLE.
public final class PlacementCallEndpoint: Sendable {
    private let handler = NIOLockedValueBox<PlacementCallHandler?>(nil)

    public init() {}

    /// Starts answering calls with `handler`.
    public func install(_ handler: @escaping PlacementCallHandler) {
        self.handler.withLockedValue { $0 = handler }
    }

    /// The call's answer, or UNAVAILABLE while no handler is installed.
    public func call(_ request: Almanac_Api_V1_PlacementRequest) async -> Result<Almanac_Api_V1_PlacementResponse, APIError> {
        guard let handler = handler.withLockedValue({ $0 }) else {
            return .failure(APIError(.unavailable, "this node answers no placement calls yet (its shard map store is not up, or it runs none)"))
        }
        return await handler(request)
    }
}
