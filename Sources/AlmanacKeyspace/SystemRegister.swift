/// The state machine of the cluster's system Raft group: a small key → record store with one
/// revision per record, changed only by compare-and-swap. It holds the shard map (the embedded
/// backend of the shard map service, one key per cluster) and, later, migration intents.
///
/// Pure and deterministic: a record's revision is the log index of the entry that wrote it, so
/// every replica that applied the same log has the same records and revisions (like etcd's
/// `mod_revision`). Records are opaque bytes here; whoever writes them validates them first and
/// whoever reads them decodes and checks them again (a malformed record is reported by readers,
/// never applied as a map).
public struct SystemRegister: Sendable, Hashable {
    /// One stored record.
    public struct Record: Sendable, Hashable {
        public var value: [UInt8]
        /// Log index of the entry that wrote it (> 0).
        public var revision: UInt64

        public init(value: [UInt8], revision: UInt64) {
            self.value = value
            self.revision = revision
        }
    }

    /// What an applied command did.
    public enum Outcome: Sendable, Hashable {
        /// Stored at this revision.
        case stored(revision: UInt64)
        /// The record's revision was not the expected one (0 = the key is absent); nothing changed.
        case conflict(actual: UInt64)
        /// The entry is not a register command (a newer format, or garbage); nothing changed.
        case rejected(String)
    }

    /// Every key's recent versions, oldest first, the current one last (at most ``historyLimit``),
    /// so that a watcher that fell a few versions behind still gets each of them, in order.
    public private(set) var versions: [String: [Record]] = [:]
    /// The highest revision written (the log index of the last applied register command).
    public private(set) var revision: UInt64 = 0
    /// Versions kept per key.
    public static let historyLimit = 64

    public init() {}

    /// The key's current record.
    public func record(_ key: String) -> Record? { versions[key]?.last }

    /// The key's versions newer than `revision`, oldest first (only the retained ones: a watcher
    /// further behind skips to what is left, as after an etcd compaction).
    public func versions(of key: String, after revision: UInt64) -> [Record] {
        (versions[key] ?? []).filter { $0.revision > revision }
    }

    /// Applies the encoded command at log `index` (``SystemRegisterCommand/encoded()``).
    public mutating func apply(_ data: [UInt8], at index: UInt64) -> Outcome {
        let command: SystemRegisterCommand
        switch SystemRegisterCommand.decode(data) {
        case .success(let value): command = value
        case .failure(let error): return .rejected(error.description)
        }
        switch command {
        case .compareAndSwap(let key, let expected, let value):
            let actual = record(key)?.revision ?? 0
            guard actual == expected else { return .conflict(actual: actual) }
            var history = versions[key] ?? []
            history.append(Record(value: value, revision: index))
            if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
            versions[key] = history
            revision = max(revision, index)
            return .stored(revision: index)
        }
    }

    // MARK: Snapshots

    static let magic: [UInt8] = Array("ASYSREG1".utf8)

    /// The whole register, keys sorted (equal registers give equal bytes).
    public func snapshot() -> [UInt8] {
        var out = Self.magic
        ByteCoding.append(revision, to: &out)
        ByteCoding.append(UInt64(versions.count), to: &out)
        for key in versions.keys.sorted() {
            let history = versions[key] ?? []
            ByteCoding.append(bytes: Array(key.utf8), to: &out)
            ByteCoding.append(UInt64(history.count), to: &out)
            for record in history {
                ByteCoding.append(record.revision, to: &out)
                ByteCoding.append(bytes: record.value, to: &out)
            }
        }
        return out
    }

    /// Whether `data` is a register snapshot (and not some other state machine's).
    public static func isSnapshot(_ data: [UInt8]) -> Bool { data.starts(with: magic) }

    public static func restore(from data: [UInt8]) -> Result<SystemRegister, KeyspaceError> {
        guard isSnapshot(data) else { return .failure(KeyspaceError.invalid("not a system register snapshot")) }
        var reader = ByteCoding.Reader(data, from: magic.count)
        var register = SystemRegister()
        guard let revision = reader.uint64(), let count = reader.uint64(), count <= UInt64(data.count) else {
            return .failure(KeyspaceError.invalid("system register snapshot: truncated header"))
        }
        register.revision = revision
        for _ in 0..<count {
            guard let key = reader.bytes(), let length = reader.uint64(), length > 0, length <= UInt64(historyLimit) else {
                return .failure(KeyspaceError.invalid("system register snapshot: truncated or bad key"))
            }
            var history: [Record] = []
            for _ in 0..<length {
                guard let recordRevision = reader.uint64(), let value = reader.bytes() else {
                    return .failure(KeyspaceError.invalid("system register snapshot: truncated record"))
                }
                history.append(Record(value: value, revision: recordRevision))
            }
            register.versions[String(decoding: key, as: UTF8.self)] = history
        }
        guard reader.atEnd else { return .failure(KeyspaceError.invalid("system register snapshot: trailing bytes")) }
        return .success(register)
    }

    /// FNV-1a 64 of the snapshot: equal on replicas that applied the same entries.
    public var digest: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in snapshot() {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}

/// A command of the system register, as journaled in the system group.
public enum SystemRegisterCommand: Sendable, Hashable {
    /// Store `value` under `key` if the key's revision is `expectedRevision` (0: only if absent).
    case compareAndSwap(key: String, expectedRevision: UInt64, value: [UInt8])

    static let tagCompareAndSwap: UInt8 = 1
    /// Longest key accepted.
    public static let maxKeyBytes = 1024

    public func encoded() -> [UInt8] {
        switch self {
        case .compareAndSwap(let key, let expected, let value):
            var out: [UInt8] = [Self.tagCompareAndSwap]
            ByteCoding.append(bytes: Array(key.utf8), to: &out)
            ByteCoding.append(expected, to: &out)
            ByteCoding.append(bytes: value, to: &out)
            return out
        }
    }

    public static func decode(_ data: [UInt8]) -> Result<SystemRegisterCommand, KeyspaceError> {
        guard let tag = data.first else { return .failure(KeyspaceError.invalid("empty system register command")) }
        guard tag == tagCompareAndSwap else { return .failure(KeyspaceError.invalid("unknown system register command \(tag)")) }
        var reader = ByteCoding.Reader(data, from: 1)
        guard let key = reader.bytes(), let expected = reader.uint64(), let value = reader.bytes(), reader.atEnd else {
            return .failure(KeyspaceError.invalid("truncated system register command"))
        }
        guard !key.isEmpty, key.count <= maxKeyBytes else {
            return .failure(KeyspaceError.invalid("system register key of \(key.count) bytes (1...\(maxKeyBytes))"))
        }
        return .success(.compareAndSwap(key: String(decoding: key, as: UTF8.self), expectedRevision: expected, value: value))
    }
}

/// Little-endian fixed-width integers and length-prefixed byte strings.
enum ByteCoding {
    static func append(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    static func append(bytes: [UInt8], to out: inout [UInt8]) {
        append(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    struct Reader {
        let data: [UInt8]
        var offset: Int

        init(_ data: [UInt8], from offset: Int) {
            self.data = data
            self.offset = offset
        }

        var atEnd: Bool { offset == data.count }

        mutating func uint64() -> UInt64? {
            guard data.count - offset >= 8 else { return nil }
            var value: UInt64 = 0
            for i in 0..<8 { value |= UInt64(data[offset + i]) << UInt64(8 * i) }
            offset += 8
            return value
        }

        mutating func bytes() -> [UInt8]? {
            guard let length = uint64(), length <= UInt64(data.count - offset) else { return nil }
            let end = offset + Int(length)
            defer { offset = end }
            return Array(data[offset..<end])
        }
    }
}
