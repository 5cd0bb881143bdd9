import Testing
@testable import AlmanacMetadata

/// A seeded, deterministic random generator (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Drives a state machine like a leader would: consecutive log indexes, one session, rising
/// sequence numbers, and a clock that advances 1 µs per command.
struct Harness {
    var machine: MetadataStateMachine
    var index: UInt64 = 0
    var session: SessionID = 0
    var sequence: SequenceNumber = 0
    var time = Timestamp(seconds: 1_000)

    init(config: MetadataConfig = MetadataConfig()) {
        machine = MetadataStateMachine(config: config)
        session = registerSession()
    }

    /// A segment the foreign-id tests take away from the harness's shard.
    static let foreignSegment: SegmentID = 4095

    /// Makes ``foreignSegment`` belong to another shard.
    mutating func disownForeignSegment() { machine.ownership.remove(Self.foreignSegment) }

    /// A copy of the machine without ``foreignSegment``.
    func foreignMachine() -> MetadataStateMachine {
        var copy = machine
        copy.ownership.remove(Self.foreignSegment)
        return copy
    }

    mutating func nextIndex() -> UInt64 {
        index += 1
        return index
    }

    mutating func registerSession() -> SessionID {
        time.nanoseconds += 1_000
        let result = machine.apply(
            CommandEnvelope(shardID: machine.config.shardID, sessionID: 0, sequence: 0, time: time, operation: .registerSession),
            at: nextIndex())
        guard case .success(.sessionRegistered(let id)) = result else {
            Issue.record("registerSession failed: \(result)")
            return 0
        }
        return id
    }

    func envelope(_ operation: MetadataOperation, sequence: SequenceNumber, session: SessionID? = nil) -> CommandEnvelope {
        CommandEnvelope(
            shardID: machine.config.shardID, migrationTimestamp: 7, sessionID: session ?? self.session,
            sequence: sequence, time: time, operation: operation)
    }

    /// Applies `operation` as the next command of the harness session.
    @discardableResult
    mutating func run(_ operation: MetadataOperation) -> CommandResult {
        sequence += 1
        time.nanoseconds += 1_000
        return machine.apply(envelope(operation, sequence: sequence), at: nextIndex())
    }

    /// Applies `operation` and expects success.
    @discardableResult
    mutating func ok(_ operation: MetadataOperation, sourceLocation: SourceLocation = #_sourceLocation) -> OperationOutcome {
        let result = run(operation)
        guard case .success(let outcome) = result else {
            Issue.record("\(operation.name) failed: \(result)", sourceLocation: sourceLocation)
            return .done
        }
        return outcome
    }

    /// Applies `operation` and returns the attributes it produced.
    mutating func attributes(_ operation: MetadataOperation, sourceLocation: SourceLocation = #_sourceLocation) -> InodeAttributes {
        switch ok(operation, sourceLocation: sourceLocation) {
        case .attributes(let attributes): return attributes
        case .opened(_, let attributes, _): return attributes
        default:
            Issue.record("\(operation.name) returned no attributes", sourceLocation: sourceLocation)
            return placeholderAttributes
        }
    }

    /// Applies `operation`, expects `code`, and checks the namespace did not change.
    mutating func fails(
        _ code: ErrorCode, _ operation: MetadataOperation, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let before = machine
        let result = run(operation)
        #expect(result.errorCode == code, "\(operation.name): expected \(code), got \(result)", sourceLocation: sourceLocation)
        if case .failure(let error) = result {
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        }
        #expect(machine.namespaceEquals(before), "\(operation.name) changed state although it failed", sourceLocation: sourceLocation)
    }

    mutating func mkdir(_ parent: InodeID, _ name: ByteString, mode: UInt32 = 0o755) -> InodeID {
        attributes(.mkdir(parent: parent, name: name, mode: mode, uid: 10, gid: 20)).id
    }

    mutating func create(_ parent: InodeID, _ name: ByteString, mode: UInt32 = 0o644) -> InodeID {
        attributes(.create(parent: parent, name: name, mode: mode, uid: 10, gid: 20)).id
    }

    func names(_ directory: InodeID) -> [String] {
        var names: [String] = []
        var cursor: ReaddirCursor?
        repeat {
            guard let page = try? machine.readdir(directory, after: cursor, limit: 1000) else { return names }
            names += page.entries.map(\.name.string)
            cursor = page.nextCursor
        } while cursor != nil
        return names
    }
}

let placeholderAttributes = InodeAttributes(
    id: InodeID(0), type: .regular, mode: 0, uid: 0, gid: 0, size: 0, nlink: 0, atime: .zero, mtime: .zero,
    ctime: .zero, version: 0)

extension MetadataStateMachine {
    /// Whether the namespace and handles are equal (ignoring the applied index, clock and session bookkeeping).
    func namespaceEquals(_ other: MetadataStateMachine) -> Bool {
        inodes == other.inodes && handles == other.handles && segmentCounters == other.segmentCounters
            && nextHandle == other.nextHandle && openCounts == other.openCounts
    }
}

/// Runs a throwing query and returns its typed error, if any.
func queryError<T>(_ body: () throws(MetadataError) -> T) -> ErrorCode? {
    do {
        _ = try body()
        return nil
    } catch {
        return error.code
    }
}
