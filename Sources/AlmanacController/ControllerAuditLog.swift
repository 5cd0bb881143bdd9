import AlmanacControl
import AlmanacShardMap
import Foundation

/// The controller's decisions in the map store (``ControlRecordName/controllerAudit``): the newest
/// `capacity`, oldest first, as JSON. Appends are compare-and-swap, so two writers never lose each
/// other's entries.
public enum ControllerAuditLog {
    public static let capacity = 200

    public static func decode(_ bytes: [UInt8]) throws(ControllerRecordError) -> [ControllerDecision] {
        do {
            return try JSONDecoder().decode([ControllerDecision].self, from: Data(bytes))
        } catch {
            throw ControllerRecordError(description: "malformed controller audit: \(error)")
        }
    }

    public static func encode(_ decisions: [ControllerDecision]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(Array(decisions.suffix(capacity)))).map(Array.init) ?? []
    }

    private static func swapResult(_ store: any ControlRecordStore, expected: UInt64, bytes: [UInt8]) async -> Result<ControlRecord, ShardMapStoreError> {
        do {
            return .success(try await store.compareAndSwapRecord(.controllerAudit, expectedRevision: expected, bytes: bytes))
        } catch {
            return .failure(error)
        }
    }

    /// The stored decisions (empty when none were ever written).
    public static func load(_ store: any ControlRecordStore) async throws -> [ControllerDecision] {
        guard let record = try await store.loadRecord(.controllerAudit) else { return [] }
        return try decode(record.bytes)
    }

    /// Files realized gains under the stored decisions they belong to (same planner run and library
    /// audit entry); gains whose decision has left the newest `capacity` are dropped.
    public static func settle(_ gains: [RealizedGain], in store: any ControlRecordStore) async throws {
        guard !gains.isEmpty else { return }
        let byKey = Dictionary(gains.map { (Key(run: $0.plannerRun, entry: $0.auditEntry), $0) }, uniquingKeysWith: { $1 })
        for _ in 0..<8 {
            guard let current = try await store.loadRecord(.controllerAudit) else { return }
            var stored = try decode(current.bytes)
            var changed = false
            for index in stored.indices {
                guard let run = stored[index].plannerRun, let entry = stored[index].auditEntry,
                      let gain = byKey[Key(run: run, entry: entry)] else { continue }
                stored[index].realizedGainOpMs = gain.gainOpMs
                changed = true
            }
            guard changed else { return }
            switch await swapResult(store, expected: current.revision, bytes: encode(stored)) {
            case .success: return
            case .failure(.conflict): continue
            case .failure(let error): throw error
            }
        }
        throw ShardMapStoreError.unavailable("the controller audit kept changing under eight attempts")
    }

    private struct Key: Hashable {
        var run: UInt64
        var entry: Int
    }

    /// Adds `decisions` (ids assigned here, after the newest stored one) or, for decisions already
    /// stored (same id), replaces them with their new outcome.
    @discardableResult
    public static func record(_ decisions: [ControllerDecision], in store: any ControlRecordStore) async throws -> [ControllerDecision] {
        guard !decisions.isEmpty else { return [] }
        for _ in 0..<8 {
            let current = try await store.loadRecord(.controllerAudit)
            var stored = try current.map { try decode($0.bytes) } ?? []
            var nextID = (stored.map(\.id).max() ?? 0) + 1
            var written: [ControllerDecision] = []
            for var decision in decisions {
                if decision.id != 0, let index = stored.firstIndex(where: { $0.id == decision.id }) {
                    stored[index] = decision
                } else {
                    decision.id = nextID
                    nextID += 1
                    stored.append(decision)
                }
                written.append(decision)
            }
            let outcome = await swapResult(store, expected: current?.revision ?? 0, bytes: encode(stored))
            switch outcome {
            case .success: return written
            case .failure(.conflict): continue
            case .failure(let error): throw error
            }
        }
        throw ShardMapStoreError.unavailable("the controller audit kept changing under eight attempts")
    }
}
