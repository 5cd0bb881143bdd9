import AlmanacMetadata
import AlmanacPredict

/// The pure half of a shard leader's prefetching path: it learns from every served write of a
/// session, keeps the bounded history rings (global and per session), asks the model what each
/// session sends next, and turns the predictions above the threshold into fully formed operations.
///
/// Files are what the model sees: a directory entry (parent, name), or an inode when no entry is
/// known. A predicted (file, op) becomes an operation by reusing the last operation of that kind
/// on that file (an `open` with its flags, a `setattr` with its changes), or, for `close`, the
/// session's open handle on that file. Reads are not journaled, so they are neither observed nor
/// issued (the server's `read` path carries no session).
public struct PrefetchPlanner: Sendable {
    enum FileKey: Hashable, Sendable {
        case entry(InodeID, ByteString)
        case inode(InodeID)
    }

    public let settings: PrefetchSettings
    private var model: any NextOpPredictor
    /// The global ring of recent requests (every session).
    public private(set) var history: RequestHistory
    /// One small ring per session (bounded number of sessions, oldest dropped).
    private var sessionHistories: [SessionID: RequestHistory] = [:]
    private var sessionOrder: [SessionID] = []
    private var files: [FileKey: UInt32] = [:]
    private var fileKeys: [UInt32: FileKey] = [:]
    private var nextFile: UInt32 = 1
    private var inodeFiles: [InodeID: UInt32] = [:]
    /// The last full operation seen per (file, op).
    private var lastOperations: [FileOp: MetadataOperation] = [:]
    /// Open handles per session and the file each one is on.
    private var openHandles: [SessionID: [HandleID: UInt32]] = [:]
    /// Bound of every table above.
    let maxTracked: Int

    public init(settings: PrefetchSettings, maxTracked: Int = 65_536) {
        self.settings = settings
        self.model = settings.modelType.makePredictor()
        self.history = RequestHistory(capacity: settings.historyCapacity)
        self.maxTracked = max(64, maxTracked)
    }

    /// The model's stream of a session.
    static func stream(_ session: SessionID) -> UInt32 { UInt32(truncatingIfNeeded: session) }

    private mutating func file(_ key: FileKey) -> UInt32 {
        if let id = files[key] { return id }
        if files.count >= maxTracked {
            // Start over rather than evict one by one: the model's ids for old files become unknown files.
            files.removeAll(keepingCapacity: true)
            fileKeys.removeAll(keepingCapacity: true)
            inodeFiles.removeAll(keepingCapacity: true)
            lastOperations.removeAll(keepingCapacity: true)
        }
        let id = nextFile
        nextFile &+= 1
        if nextFile == 0 { nextFile = 1 }
        files[key] = id
        fileKeys[id] = key
        return id
    }

    /// The (file, op) the model sees for `operation`, if it is one it predicts.
    private mutating func event(_ operation: MetadataOperation, session: SessionID) -> FileOp? {
        switch operation {
        case let .mkdir(parent, name, _, _, _): return FileOp(file: file(.entry(parent, name)), op: .mkdir)
        case let .create(parent, name, _, _, _), let .symlink(parent, name, _, _, _), let .link(_, parent, name):
            return FileOp(file: file(.entry(parent, name)), op: .create)
        case let .open(parent, name, flags, _, _, _):
            return FileOp(file: file(.entry(parent, name)), op: flags.create ? .create : .open)
        case let .close(handle):
            guard let file = openHandles[session]?[handle] else { return nil }
            return FileOp(file: file, op: .close)
        case let .setattr(id, _):
            return FileOp(file: inodeFiles[id] ?? file(.inode(id)), op: .setattr)
        case let .rename(parent, name, _, _): return FileOp(file: file(.entry(parent, name)), op: .rename)
        case let .unlink(parent, name): return FileOp(file: file(.entry(parent, name)), op: .unlink)
        case let .rmdir(parent, name): return FileOp(file: file(.entry(parent, name)), op: .rmdir)
        default: return nil
        }
    }

    /// Learns from a served write (after it was applied: `result` names new handles and inodes) and
    /// returns the predictions of what `session` sends next, formed into operations, best first.
    /// `predictions` counts the model's predictions above the threshold.
    public mutating func observe(session: SessionID, operation: MetadataOperation, result: CommandResult,
                                 nowMicros: Int64) -> (candidates: [PrefetchCandidate], predictions: Int) {
        guard let key = event(operation, session: session) else { return ([], 0) }
        let stream = Self.stream(session)
        let event = OpEvent(stream: stream, file: key.file, op: key.op, time: nowMicros)
        model.observe(event)
        history.append(event)
        record(event, session: session)
        if key.op != .close {
            if lastOperations.count >= maxTracked { lastOperations.removeAll(keepingCapacity: true) }
            lastOperations[key] = operation
        }
        switch (operation, result) {
        case (.close(let handle), _):
            openHandles[session]?.removeValue(forKey: handle)
        case (_, .success(.opened(let handle, let attributes, _))):
            openHandles[session, default: [:]][handle] = key.file
            if openHandles[session]?.count ?? 0 > 4096 { openHandles[session] = [handle: key.file] }
            inodeFiles[attributes.id] = key.file
        case (_, .success(.attributes(let attributes))):
            inodeFiles[attributes.id] = key.file
        default:
            break
        }
        let predictions = model.journalCandidates(stream: stream, threshold: settings.confidenceThreshold)
        var candidates: [PrefetchCandidate] = []
        for prediction in predictions {
            guard let operation = formed(prediction, session: session) else { continue }
            let arrival = nowMicros + Int64(max(0, prediction.expectedArrivalMicros))
            candidates.append(PrefetchCandidate(
                session: session, operation: operation, confidence: prediction.confidence,
                expectedArrival: arrival, deadline: arrival + settings.arrivalGraceMicros))
        }
        return (candidates, candidates.count)
    }

    /// The full operation for a predicted (file, op) of `session`, if one can be formed.
    private func formed(_ prediction: OpPrediction, session: SessionID) -> MetadataOperation? {
        switch prediction.op {
        case .close:
            guard let handles = openHandles[session] else { return nil }
            // The newest handle on that file (handles are allocated in increasing order).
            guard let handle = handles.filter({ $0.value == prediction.file }).keys.max() else { return nil }
            return .close(handle: handle)
        case .lookup, .getattr, .readdir, .readlink:
            return nil
        default:
            guard let operation = lastOperations[prediction.key], operation.isPredictable else { return nil }
            return operation
        }
    }

    private mutating func record(_ event: OpEvent, session: SessionID) {
        if sessionHistories[session] == nil {
            if sessionOrder.count >= settings.historyCapacity, let oldest = sessionOrder.first {
                sessionOrder.removeFirst()
                sessionHistories.removeValue(forKey: oldest)
                openHandles.removeValue(forKey: oldest)
            }
            sessionOrder.append(session)
            sessionHistories[session] = RequestHistory(capacity: settings.sessionHistoryCapacity)
        }
        sessionHistories[session]?.append(event)
    }

    /// The recent requests of `session`, oldest first.
    public func recent(session: SessionID) -> [OpEvent] { sessionHistories[session]?.events ?? [] }

    /// Forgets a session (closed or expired).
    public mutating func forget(session: SessionID) {
        sessionHistories.removeValue(forKey: session)
        openHandles.removeValue(forKey: session)
        sessionOrder.removeAll { $0 == session }
    }
}
