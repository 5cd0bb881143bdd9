import AlmanacClient
import AlmanacControl
import AlmanacController
import AlmanacShardMap
import ArgumentParser
import Foundation

/// `almanac ctl controller`: where the placement controller runs (the lease in the map store), its
/// mode and its last decisions; `ctl controller mode MODE` changes the mode.
struct CtlController: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller", abstract: "Where the placement controller runs, its mode and its last decisions (docs/controller.md).",
        subcommands: [CtlControllerStatus.self, CtlControllerMode.self], defaultSubcommand: CtlControllerStatus.self)
}

enum CtlControl {
    /// The map store's control records, or a usage error when the backend has none.
    static func store(_ options: CtlOptions, _ mapOptions: CtlMapStoreOptions) throws -> any ShardMapStore & ControlRecordStore {
        let store = try mapOptions.store(options)
        guard let control = store as? any ShardMapStore & ControlRecordStore else {
            throw ValidationError("the \(store.backendName) shard map store keeps no controller records")
        }
        return control
    }

    static func failure(_ error: any Error) -> CtlFailure {
        CtlFailure(error: AlmanacClientError(.unavailable, "shard map store: \(error)"), path: nil)
    }

    static func describe(_ decision: ControllerDecision) -> String {
        let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: decision.time))
        return decision.summary.replacingOccurrences(of: "#\(decision.id) ", with: "#\(decision.id) \(time) ", options: .anchored)
            + " (\(decision.reason))"
    }
}

struct CtlControllerStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The controller's node, term, mode and last decisions.")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Option(help: "Decisions to show.") var last: Int = 10

    struct Report: Encodable {
        var holder: UInt64?
        var term: UInt64?
        var mode: String?
        var expiresInSeconds: Double?
        var decisions: [ControllerDecision]
    }

    func run() async throws {
        let store = try CtlControl.store(options, mapOptions)
        defer { Task { await store.shutdown() } }
        let last = max(0, self.last)
        try await CtlRunner.run(options, command: "controller") { _, output throws(CtlFailure) in
            let lease: ControllerLease?
            let decisions: [ControllerDecision]
            do {
                lease = try await store.loadRecord(.controllerLease).map { try ControllerLease.decode($0.bytes) }
                decisions = Array(try await ControllerAuditLog.load(store).suffix(last))
            } catch {
                throw CtlControl.failure(error)
            }
            let expires = lease.map { Double(Int64($0.expiresAtMillis) - Int64(Date().timeIntervalSince1970 * 1000)) / 1000 }
            if output.json {
                output.emit(Report(holder: lease?.holder, term: lease?.term, mode: lease?.mode.rawValue, expiresInSeconds: expires, decisions: decisions))
                return
            }
            if let lease, let expires {
                output.line("controller: node \(lease.holder), term \(lease.term), mode \(lease.mode.rawValue), "
                    + (expires > 0 ? String(format: "lease renewed, expires in %.1f s", expires) : String(format: "lease EXPIRED %.1f s ago", -expires)))
            } else {
                output.line("controller: no lease yet (no node has run the controller)")
            }
            output.line(decisions.isEmpty ? "no decisions yet" : "last decisions:")
            for decision in decisions { output.line("  " + CtlControl.describe(decision)) }
        }
    }
}

struct CtlControllerMode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mode", abstract: "Set the controller's mode: active, shadow (decide and audit, never act) or off.")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "active, shadow or off.") var mode: String

    func run() async throws {
        guard let mode = ControllerMode(rawValue: mode) else {
            throw ValidationError("mode must be one of \(ControllerMode.allCases.map(\.rawValue).joined(separator: ", ")) (got \(self.mode))")
        }
        let options = try await options.withAdminToken(subject: "ctl-controller")
        let store = try CtlControl.store(options, mapOptions)
        defer { Task { await store.shutdown() } }
        try await CtlRunner.run(options, command: "controller mode") { _, output throws(CtlFailure) in
            do {
                for _ in 0..<8 {
                    let record = try await store.loadRecord(.controllerLease)
                    var lease = try record.map { try ControllerLease.decode($0.bytes) }
                        ?? ControllerLease(holder: 0, term: 0, renewedAtMillis: 0, durationMillis: 0, mode: mode)
                    lease.mode = mode
                    do {
                        _ = try await store.compareAndSwapRecord(.controllerLease, expectedRevision: record?.revision ?? 0, bytes: lease.encoded())
                        output.line("controller mode: \(mode.rawValue)")
                        return
                    } catch ShardMapStoreError.conflict {
                        continue  // a renewal raced the change: read it again
                    }
                }
                throw ShardMapStoreError.unavailable("the lease kept changing under eight attempts")
            } catch {
                throw CtlControl.failure(error)
            }
        }
    }
}

/// `almanac ctl audit`: the controller's decisions, oldest first: what it decided, on which inputs,
/// with which predicted gain and cost, and what came of it.
struct CtlAudit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "The placement controller's decision audit.")
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Option(help: "Decisions to show (newest).") var last: Int = 50

    func run() async throws {
        let store = try CtlControl.store(options, mapOptions)
        defer { Task { await store.shutdown() } }
        let last = max(0, self.last)
        try await CtlRunner.run(options, command: "audit") { _, output throws(CtlFailure) in
            let decisions: [ControllerDecision]
            do { decisions = Array(try await ControllerAuditLog.load(store).suffix(last)) } catch { throw CtlControl.failure(error) }
            if output.json { output.emit(decisions); return }
            if decisions.isEmpty { output.line("no decisions yet") }
            for decision in decisions { output.line(CtlControl.describe(decision)) }
        }
    }
}
