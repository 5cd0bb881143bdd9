import AlmanacWire

/// Watches requests through the API server (metrics). ``RequestExecutor`` calls `requestStarted`
/// when a request arrives and `requestFinished` with its response, once, on any thread. Both run
/// on the request path: implementations must be cheap (no allocation, no string formatting).
public protocol RequestObserver: Sendable {
    func requestStarted(_ request: Almanac_Api_V1_Request) -> RequestObservation
    func requestFinished(_ observation: RequestObservation, response: Almanac_Api_V1_Response)
}

/// What an observer remembers about a request until it is answered (kept small: no allocation).
public struct RequestObservation: Sendable {
    /// The observer's own code for the kind of operation.
    public var operation: UInt16
    /// When the request arrived, in the observer's clock (nanoseconds).
    public var startNanos: UInt64

    public init(operation: UInt16, startNanos: UInt64) {
        self.operation = operation
        self.startNanos = startNanos
    }
}
