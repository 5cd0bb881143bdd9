import AlmanacKeyspace
import AlmanacMetadata
import AlmanacShardMap

/// A value carried by reference (see ``SegmentHandoffDriver``'s `boxedCommand`).
final class ResultBox<Value: Sendable>: Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Why a hand-off did not end as asked.
public enum HandoffError: Error, Sendable, CustomStringConvertible {
    /// Bad input (an unknown shard, a segment the source does not own, a shard busy with another
    /// hand-off): nothing changed.
    case invalid(String)
    /// The hand-off was refused on the way (locks that never cleared, a refused stage) and rolled
    /// back: the map and both shards are as before.
    case rolledBack(String)
    /// An outcome is unknown (no answer from a shard or the map store). The intent stays in the map;
    /// ``SegmentHandoffDriver/resume()`` (`almanac ctl reshard resume`) finishes or rolls it back.
    case interrupted(String)

    public var description: String {
        switch self {
        case .invalid(let message): "invalid hand-off: \(message)"
        case .rolledBack(let message): "hand-off rolled back: \(message)"
        case .interrupted(let message): "hand-off interrupted (resume it): \(message)"
        }
    }
}

/// Progress of a running hand-off, for `ctl reshard` output.
public struct HandoffProgress: Sendable, Hashable {
    public var id: UInt64
    /// recorded, frozen, copying, activated, committed, released, cleared, rolled back.
    public var phase: String
    public var records: UInt64
    public var entries: UInt64
    /// Bytes of journal commands that carried the copied records.
    public var bytes: UInt64
    public var pages: Int
}

/// How a hand-off ended.
public struct HandoffReport: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable {
        case moved = "moved"
        case rolledBack = "rolled back"
    }

    public var intent: SegmentHandoffIntent
    public var outcome: Outcome
    public var progress: HandoffProgress
    /// The map's epoch when the driver finished.
    public var mapEpoch: Epoch
}

/// Drives segment hand-offs (split, merge, rebalance) through the shards' journals and the shard map
/// store, by the protocol of docs/migration.md:
///
/// 1. record the intent in the map (CAS); 2. freeze the segments on the source; 3. copy them page
/// by page into the target's staging; 4. activate them on the target (the commit point); 5. give
/// them to the target in the map (CAS, epoch bump); 6. release the source's copy; 7. clear the intent.
///
/// Any step may fail or the driving process may die. A definite refusal before step 4 rolls back
/// (abort the import, thaw the source, clear the intent); an unknown outcome leaves the intent for
/// ``resume()``, which rolls a `preparing` hand-off back (forward if the target had activated it)
/// and finishes a `committed` one. Every shard command is idempotent and ended hand-offs are
/// remembered by the shards, so repeating any step, or running two drivers, is safe.
///
/// Its async functions throw only ``HandoffError`` but are declared with untyped `throws`: async
/// typed-throws functions returning large values are miscompiled in release builds by this
/// toolchain (the caller reads a corrupted value: swiftlang/swift#90722 and relatives), which
/// crashed `ctl reshard` in release only.
public struct SegmentHandoffDriver: Sendable {
    public let transport: any ShardCommandTransport
    public let store: any ShardMapStore
    /// Approximate bytes of records per copy command (at most `MetadataLimits.maxHandoffEntryBytes`
    /// per journal entry; pieces are estimated a little high).
    public var pageBudgetBytes: UInt32 = 256 * 1024
    /// Tries of a command or map update whose outcome stays unknown before giving up (interrupted).
    public var attempts = 5
    /// How long a freeze waits for cross-shard transactions and open-unlinked files to clear.
    public var lockWait: Duration = .seconds(10)
    /// Wall-clock milliseconds (the intent's migration timestamp).
    public var clock: @Sendable () -> UInt64
    /// Pause between retries.
    public var pause: @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }
    /// A fresh hand-off id.
    public var newID: @Sendable () -> UInt64 = { UInt64.random(in: 1...(UInt64.max >> 1)) }
    public var onProgress: (@Sendable (HandoffProgress) -> Void)?
    /// A pause after every progress report (0: none): slows a hand-off down to watch it, or to
    /// kill its driver at a chosen step in tests.
    public var stepPause: Duration = .zero

    public init(transport: any ShardCommandTransport, store: any ShardMapStore, clock: @escaping @Sendable () -> UInt64) {
        self.transport = transport
        self.store = store
        self.clock = clock
    }

    // MARK: - Entry points

    /// Moves `segments` (all owned by one shard) to shard `target`.
    public func move(segments: [SegmentID], to target: ShardID) async throws -> HandoffReport {
        let current = try await loadMap()
        guard let first = segments.first, let source = current.map.shard(ofSegment: first) else {
            throw HandoffError.invalid("name at least one existing segment")
        }
        let intent = SegmentHandoffIntent(
            id: newID(), segments: segments, source: source, target: target, phase: .preparing, migrationTimestamp: clock())
        var trial = current.map
        do { try trial.recordHandoff(intent) } catch { throw HandoffError.invalid(error.description) }
        _ = try await updateMap { map throws(KeyspaceError) in
            if map.handoff(intent.id) != nil { return false }
            try map.recordHandoff(intent)
            return true
        }
        let recorded = HandoffProgress(id: intent.id, phase: "recorded", records: 0, entries: 0, bytes: 0, pages: 0)
        await report(recorded)
        switch await prepare(intent, progress: recorded) {
        case .activated(let progress):
            return try await rollForward(intent, progress)
        case .refused(let reason, let progress):
            let report = try await rollBack(intent, progress)
            if report.outcome == .moved { return report }
            throw HandoffError.rolledBack(reason)
        case .failed(let error):
            throw error
        }
    }

    /// Finishes every hand-off whose intent is in the map: `committed` ones forward, `preparing`
    /// ones back (forward when the target had already activated them).
    public func resume() async throws -> [HandoffReport] {
        var reports: [HandoffReport] = []
        for intent in try await loadMap().map.handoffs {
            let progress = HandoffProgress(id: intent.id, phase: intent.phase.rawValue, records: 0, entries: 0, bytes: 0, pages: 0)
            reports.append(intent.phase == .committed ? try await rollForward(intent, progress) : try await rollBack(intent, progress))
        }
        return reports
    }

    // MARK: - Steps

    /// How the steps before the commit point ended.
    private enum Preparation {
        /// The target activated the segments: roll forward.
        case activated(HandoffProgress)
        /// A definite refusal before the commit point: roll back.
        case refused(String, HandoffProgress)
        /// An unknown outcome: leave the intent for ``resume()``.
        case failed(HandoffError)
    }

    /// Steps 2-4: freeze, copy, activate.
    private func prepare(_ intent: SegmentHandoffIntent, progress start: HandoffProgress) async -> Preparation {
        var progress = start
        do {
            let deadline = ContinuousClock.now.advanced(by: lockWait)
            var frozen: HandoffSummary? = nil
            while frozen == nil {
                let result = try await command(.freezeSegments(intent.id, segments: intent.segments, target: intent.target), on: intent.source)
                switch result {
                case .success(.handoffFrozen(let summary)):
                    frozen = summary
                case .failure(let error) where error.code == .conflict && ContinuousClock.now < deadline:
                    await pause(.milliseconds(50))
                default:
                    return .refused("freeze on shard \(intent.source): \(result)", progress)
                }
            }
            guard let summary = frozen else { return .refused("freeze on shard \(intent.source) gave no summary", progress) }
            progress.phase = "frozen"
            await report(progress)

            progress.phase = "copying"
            // Pipelined: the next page is read from the source while this one is staged on the target.
            let export = { (from: SegmentExportCursor) in
                Task { try await self.boxedCommand(.exportSegments(intent.id, after: from, budgetBytes: self.pageBudgetBytes), on: intent.source) }
            }
            var pending: Task<ResultBox<CommandResult>, any Error>? = export(.start)
            while let reading = pending {
                let exported = try await reading.value.value
                guard case .success(.exportPage(let page)) = exported else {
                    return .refused("export from shard \(intent.source): \(exported)", progress)
                }
                pending = page.next.map(export)
                if !page.pieces.isEmpty {
                    let stage = MetadataOperation.stageSegments(intent.id, source: intent.source, segments: intent.segments, pieces: page.pieces)
                    let staged = try await command(stage, on: intent.target)
                    guard case .success = staged else {
                        pending?.cancel()
                        return .refused("stage on shard \(intent.target): \(staged)", progress)
                    }
                    progress.bytes += UInt64(stage.encodedOperation().count)
                    progress.records += UInt64(page.pieces.filter { $0.attributes != nil }.count)
                    progress.entries += UInt64(page.pieces.reduce(0) { $0 + $1.entries.count })
                }
                progress.pages += 1
                await report(progress)
            }

            var trial = try await loadMap().map
            do throws(KeyspaceError) { try trial.commitHandoff(intent.id) } catch {
                return .refused("the map lost the intent: \(error)", progress)
            }
            let epoch = trial.shards[intent.target]?.epoch ?? 1
            let activated = try await command(
                .activateSegments(intent.id, source: intent.source, summary: summary, epoch: epoch, migrationTimestamp: intent.migrationTimestamp),
                on: intent.target)
            guard case .success = activated else { return .refused("activate on shard \(intent.target): \(activated)", progress) }
            progress.phase = "activated"
            await report(progress)
            return .activated(progress)
        } catch let error as HandoffError {
            return .failed(error)
        } catch {
            return .failed(.interrupted("\(error)"))
        }
    }

    /// Steps 5-7, after the target activated the segments.
    private func rollForward(_ intent: SegmentHandoffIntent, _ progress: HandoffProgress) async throws -> HandoffReport {
        var progress = progress
        let committed = try await updateMap { map throws(KeyspaceError) in
            guard let current = map.handoff(intent.id), current.phase == .preparing else { return false }
            try map.commitHandoff(intent.id)
            return true
        }
        progress.phase = "committed"
        await report(progress)
        let epoch = committed.shards[intent.source]?.epoch ?? 1
        let released = try await command(.releaseSegments(intent.id, epoch: epoch), on: intent.source)
        guard case .success = released else {
            throw HandoffError.interrupted("release on shard \(intent.source) after the commit was refused: \(released); the intent stays")
        }
        progress.phase = "released"
        await report(progress)
        let final = try await updateMap { map throws(KeyspaceError) in
            guard map.handoff(intent.id) != nil else { return false }
            map.clearHandoff(intent.id)
            return true
        }
        progress.phase = "cleared"
        await report(progress)
        return HandoffReport(intent: intent, outcome: .moved, progress: progress, mapEpoch: final.epoch)
    }

    /// Undoes a hand-off that is not committed: abort the target's import (if it answers that it
    /// activated, roll forward instead), thaw the source, clear the intent.
    private func rollBack(_ intent: SegmentHandoffIntent, _ progress: HandoffProgress) async throws -> HandoffReport {
        var progress = progress
        let aborted = try await command(.abortImport(intent.id), on: intent.target)
        switch aborted {
        case .success: break
        case .failure(let error) where error.code == .eexist:
            return try await rollForward(intent, progress)
        case .failure(let error):
            throw HandoffError.interrupted("abort on shard \(intent.target) was refused: \(error)")
        }
        let thawed = try await command(.thawSegments(intent.id), on: intent.source)
        guard case .success = thawed else { throw HandoffError.interrupted("thaw on shard \(intent.source) was refused: \(thawed)") }
        let final = try await updateMap { map throws(KeyspaceError) in
            guard map.handoff(intent.id) != nil else { return false }
            map.clearHandoff(intent.id)
            return true
        }
        progress.phase = "rolled back"
        await report(progress)
        return HandoffReport(intent: intent, outcome: .rolledBack, progress: progress, mapEpoch: final.epoch)
    }

    private func report(_ progress: HandoffProgress) async {
        onProgress?(progress)
        if stepPause > .zero { await pause(stepPause) }
    }

    // MARK: - I/O with retries

    /// Journals `operation` on `shard`, repeating it (it is idempotent) while the outcome is unknown.
    private func command(_ operation: MetadataOperation, on shard: ShardID) async throws -> CommandResult {
        try await boxedCommand(operation, on: shard).value
    }

    /// The result comes back in a box: returned by value from this async function, the large
    /// `CommandResult` enum reached the caller corrupted in release builds of this toolchain (a
    /// crash in `ctl reshard` only with optimization; a reference always survives the trip).
    private func boxedCommand(_ operation: MetadataOperation, on shard: ShardID) async throws -> ResultBox<CommandResult> {
        var last = ""
        for attempt in 0..<max(1, attempts) {
            switch await transport.command(operation, on: shard) {
            case .success(let (result, _)):
                return ResultBox(result)
            case .failure(let failure):
                last = failure.reason
                if attempt + 1 < attempts { await pause(.milliseconds(100 << min(attempt, 4))) }
            }
        }
        throw HandoffError.interrupted("\(operation.name) on shard \(shard): \(last)")
    }

    private func loadMap() async throws -> VersionedShardMap {
        do { return try await updater.load() } catch let failure as MapUpdateFailure { throw Self.handoffError(failure) }
    }

    private func updateMap(_ change: (inout ShardMap) throws(KeyspaceError) -> Bool) async throws -> ShardMap {
        do { return try await updater.update(change) } catch let failure as MapUpdateFailure { throw Self.handoffError(failure) }
    }

    private var updater: ShardMapUpdater { ShardMapUpdater(store: store, attempts: attempts, pause: pause) }

    private static func handoffError(_ failure: MapUpdateFailure) -> HandoffError {
        switch failure {
        case .invalid(let reason): .invalid(reason)
        case .interrupted(let reason): .interrupted(reason)
        }
    }
}
