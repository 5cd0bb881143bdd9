import AlmanacWire
import Foundation
import NIOCore

/// A record of the system group's register as the client sees it.
public struct SystemStoreRecord: Sendable, Hashable {
    public var value: [UInt8]
    /// The log index of the system group's entry that wrote it.
    public var revision: UInt64

    public init(value: [UInt8], revision: UInt64) {
        self.value = value
        self.revision = revision
    }
}

extension AlmanacClient {
    /// The key's record (a linearizable read on the system group's leader), nil if absent.
    public func systemStoreLoad(key: String) async throws(AlmanacClientError) -> SystemStoreRecord? {
        var call = Almanac_Api_V1_SystemStoreRequest()
        call.key = key
        call.load = Almanac_Api_V1_SystemStoreLoad()
        return Self.record(try await systemStore(call))
    }

    /// Stores `value` if the key's revision is `expectedRevision` (0: only if absent). Returns the
    /// stored record, or `.failure` with the current record (nil: absent) when the swap lost.
    /// Not idempotent: after a timeout the swap may have happened; the caller checks the record.
    public func systemStoreCompareAndSwap(key: String, expectedRevision: UInt64, value: [UInt8])
        async throws(AlmanacClientError) -> Result<SystemStoreRecord, SystemStoreConflict>
    {
        var call = Almanac_Api_V1_SystemStoreRequest()
        call.key = key
        var cas = Almanac_Api_V1_SystemStoreCompareAndSwap()
        cas.expectedRevision = expectedRevision
        cas.value = Data(value)
        call.compareAndSwap = cas
        let response = try await systemStore(call)
        if response.conflict { return .failure(SystemStoreConflict(current: Self.record(response))) }
        guard let record = Self.record(response) else {
            throw AlmanacClientError(.protocolViolation, "system_store compare_and_swap: a stored record came back absent")
        }
        return .success(record)
    }

    /// Waits until the key's revision exceeds `afterRevision` or `wait` passes; returns the retained
    /// versions newer than `afterRevision`, oldest first (empty: no change within `wait`).
    /// Configure an attempt timeout above `wait`.
    public func systemStoreWatch(key: String, afterRevision: UInt64, wait: Duration) async throws(AlmanacClientError) -> [SystemStoreRecord] {
        var call = Almanac_Api_V1_SystemStoreRequest()
        call.key = key
        var watch = Almanac_Api_V1_SystemStoreWatch()
        watch.afterRevision = afterRevision
        watch.waitMs = UInt32(clamping: wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        call.watch = watch
        return try await systemStore(call).versions.map { SystemStoreRecord(value: Array($0.value), revision: $0.revision) }
    }

    private func systemStore(_ call: Almanac_Api_V1_SystemStoreRequest) async throws(AlmanacClientError) -> Almanac_Api_V1_SystemStoreResponse {
        var request = Almanac_Api_V1_Request()
        request.systemStore = call
        let response = try await read(request, shard: nil)
        guard case .systemStore(let result)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "system_store: the response carries no result")
        }
        return result
    }

    private static func record(_ response: Almanac_Api_V1_SystemStoreResponse) -> SystemStoreRecord? {
        response.found ? SystemStoreRecord(value: Array(response.value), revision: response.revision) : nil
    }
}

/// A compare-and-swap on the system store lost; `current` is the record that is stored (nil: none).
public struct SystemStoreConflict: Error, Sendable, Hashable {
    public var current: SystemStoreRecord?
}
