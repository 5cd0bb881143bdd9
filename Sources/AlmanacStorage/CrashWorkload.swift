import AlmanacRaft
import Foundation

/// The workload of the real crash test: each group appends entries with known contents through
/// group commit and reports every entry once it is durable. The `almanac storage-crash-child`
/// subcommand runs it until it is killed; the test then checks every reported entry.
public enum CrashWorkload {
    /// The deterministic contents of entry `index` of `group` (1...300 bytes).
    public static func payload(group: GroupID, index: LogIndex) -> [UInt8] {
        var random = SplitMix64(seed: group &* 0x1000_0000_01B3 ^ index)
        let count = 1 + Int(random.next() % 300)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    /// The line printed once entry (`group`, `index`) is durable.
    public static func acknowledgement(group: GroupID, index: LogIndex) -> String {
        "ack \(group) \(index)"
    }

    /// Opens the log in `directory`, and keeps one entry in flight per group forever, calling
    /// `acknowledge` with each line after the sync that covers it returned. Returns the log (the
    /// caller keeps the process alive).
    public static func start(directory: String, groups: Int, segmentSize: Int,
                             acknowledge: @escaping @Sendable (String) -> Void) throws(StorageError) -> GroupCommitLog {
        let engine = try LogEngine.open(fileSystem: POSIXFileSystem(), directory: directory,
                                        options: LogEngineOptions(segmentSize: segmentSize))
        var next: [GroupID: LogIndex] = [:]
        for group in 1...GroupID(max(1, groups)) {
            next[group] = (engine.summary(of: group)?.lastIndex ?? 0) + 1
        }
        let log = GroupCommitLog(engine: engine)
        for (group, index) in next { submit(log, group: group, index: index, acknowledge: acknowledge) }
        return log
    }

    private static func submit(_ log: GroupCommitLog, group: GroupID, index: LogIndex,
                               acknowledge: @escaping @Sendable (String) -> Void) {
        let entry = Entry(term: 1, index: index, data: payload(group: group, index: index))
        let hardState = index % 8 == 0 ? HardState(term: 1, vote: 0, commit: index) : nil
        log.append(WriteBatch([GroupWrite(group: group, entries: [entry], hardState: hardState)])) { result in
            switch result {
            case .success:
                acknowledge(acknowledgement(group: group, index: index))
                submit(log, group: group, index: index + 1, acknowledge: acknowledge)
            case let .failure(error):
                acknowledge("error \(error)")
            }
        }
    }
}
