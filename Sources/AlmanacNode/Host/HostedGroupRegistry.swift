import Foundation
import Synchronization

/// The groups this node joined or left at runtime (replica migration), kept in
/// `<data-dir>/hosted-groups.json` so that a restart hosts the same replicas: the node hosts the
/// groups its static placement gives it (``ReplicaPlacement``), plus those it joined, minus those
/// it left. Written atomically (temporary file, fsync, rename, fsync of the directory).
public final class HostedGroupRegistry: Sendable {
    public struct Record: Sendable, Hashable, Codable {
        public var joined: Set<UInt64> = []
        public var left: Set<UInt64> = []
        /// Groups founded here at runtime (new shards), with their founding voters: a restart
        /// bootstraps them with the same configuration, as the static placement's groups. Absent
        /// in files written before runtime groups existed.
        public var founded: [UInt64: [UInt64]]? = nil

        public init(joined: Set<UInt64> = [], left: Set<UInt64> = [], founded: [UInt64: [UInt64]]? = nil) {
            self.joined = joined
            self.left = left
            self.founded = founded
        }

        /// The hosted groups given the static placement's.
        public func hosted(placed: [UInt64]) -> [UInt64] {
            Set(placed).union(joined).union((founded ?? [:]).keys).subtracting(left).sorted()
        }
    }

    public static let fileName = "hosted-groups.json"
    public let path: String
    private let state: Mutex<Record>

    /// Reads the registry of `directory` (empty when the file does not exist).
    public init(directory: String) throws(HostStartError) {
        path = "\(directory)/\(Self.fileName)"
        var record = Record()
        if let data = FileManager.default.contents(atPath: path) {
            do {
                record = try JSONDecoder().decode(Record.self, from: data)
            } catch {
                throw HostStartError("\(path) is unreadable: \(error); it lists the groups this node joined or left at runtime")
            }
        }
        state = Mutex(record)
    }

    public var record: Record { state.withLock { $0 } }

    /// Records that this node now hosts `group` (before its replica starts).
    public func recordJoined(_ group: UInt64) throws(HostError) {
        try update { $0.joined.insert(group); $0.left.remove(group) }
    }

    /// Records that this node founds `group` with `voters` (before its replica starts).
    public func recordFounded(_ group: UInt64, voters: [UInt64]) throws(HostError) {
        try update { record in
            var founded = record.founded ?? [:]
            founded[group] = voters
            record.founded = founded
            record.left.remove(group)
        }
    }

    /// Records that this node no longer hosts `group` (before its replica stops).
    public func recordLeft(_ group: UInt64) throws(HostError) {
        try update { $0.left.insert(group); $0.joined.remove(group); $0.founded?[group] = nil }
    }

    private func update(_ change: (inout Record) -> Void) throws(HostError) {
        let result: Result<Void, HostError> = state.withLock { record in
            var next = record
            change(&next)
            guard next != record else { return .success(()) }
            do {
                try Self.write(next, to: path)
            } catch {
                return .failure(HostError.unavailable("cannot record the hosted groups in \(path): \(error)"))
            }
            record = next
            return .success(())
        }
        try result.get()
    }

    private static func write(_ record: Record, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(record)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        guard rename(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }
}
