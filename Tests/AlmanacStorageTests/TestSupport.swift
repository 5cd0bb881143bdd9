import AlmanacRaft
import Foundation
@testable import AlmanacStorage

/// A fresh temporary directory on the real disk.
func temporaryDirectory(_ label: String = #function) -> String {
    let safe = label.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "almanac-storage-\(safe)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func payload(_ group: GroupID, _ index: LogIndex, term: Term = 1, size: Int = 24) -> [UInt8] {
    var random = SplitMix64(seed: group &* 1_000_003 ^ index &* 7919 ^ term)
    return (0..<size).map { _ in UInt8(truncatingIfNeeded: random.next()) }
}

func entry(_ group: GroupID, _ index: LogIndex, term: Term = 1, size: Int = 24) -> Entry {
    Entry(term: term, index: index, data: payload(group, index, term: term, size: size))
}

/// A model of what each group's log should contain.
struct LogModel {
    var entries: [GroupID: [LogIndex: Entry]] = [:]
    var hardStates: [GroupID: HardState] = [:]
    var firstIndex: [GroupID: LogIndex] = [:]

    mutating func append(_ group: GroupID, _ new: [Entry]) {
        guard let first = new.first else { return }
        entries[group, default: [:]] = entries[group, default: [:]].filter { $0.key < first.index }
        for e in new { entries[group]![e.index] = e }
    }

    mutating func compact(_ group: GroupID, through index: LogIndex) {
        entries[group] = entries[group, default: [:]].filter { $0.key > index }
        firstIndex[group] = max(firstIndex[group] ?? 1, index + 1)
    }

    func lastIndex(_ group: GroupID) -> LogIndex {
        entries[group]?.keys.max() ?? ((firstIndex[group] ?? 1) - 1)
    }

    func sortedEntries(_ group: GroupID) -> [Entry] {
        (entries[group] ?? [:]).values.sorted { $0.index < $1.index }
    }
}

/// Checks that the engine holds exactly what the model says; returns mismatches.
func mismatches(_ engine: LogEngine, _ model: LogModel) throws -> [String] {
    var problems: [String] = []
    for (group, expectedEntries) in model.entries {
        let expected = expectedEntries.values.sorted { $0.index < $1.index }
        guard let summary = engine.summary(of: group) else {
            if !expected.isEmpty { problems.append("group \(group) missing") }
            continue
        }
        let lastIndex = model.lastIndex(group)
        if summary.lastIndex != lastIndex { problems.append("group \(group): last \(summary.lastIndex) != \(lastIndex)") }
        if let first = expected.first?.index, summary.firstIndex != first {
            problems.append("group \(group): first \(summary.firstIndex) != \(first)")
        }
        if let first = expected.first?.index {
            let stored = try engine.entries(group: group, first..<(summary.lastIndex + 1))
            if stored != expected { problems.append("group \(group): entries differ") }
            for e in expected where try engine.term(group: group, index: e.index) != e.term {
                problems.append("group \(group): term at \(e.index) differs")
            }
        }
        if let hardState = model.hardStates[group], summary.hardState != hardState {
            problems.append("group \(group): hard state \(summary.hardState) != \(hardState)")
        }
    }
    return problems
}

/// Segments small enough that the in-memory disk stays cheap in debug builds.
let small = LogEngineOptions(segmentSize: 1 << 18)
