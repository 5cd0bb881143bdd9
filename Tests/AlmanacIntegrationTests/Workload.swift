import AlmanacTestSupport
import AlmanacClient
import Foundation
import Synchronization

/// What one workload worker believes about its own names in the shared directory.
///
/// Every operation the worker issues is valid against this model, so a namespace error (EEXIST,
/// ENOENT, ...) in an answer means a lost or duplicated apply. An operation that failed with a
/// cluster error (timeout/unavailable after all retries) has an unknown outcome: its names become
/// "uncertain" (they may exist or not, but never twice: a directory holds a name once).
struct WorkloadModel: Sendable {
    /// Acknowledged names and their inode ids.
    var present: [String: UInt64] = [:]
    /// Sizes set by acknowledged setattr calls.
    var sizes: [String: UInt64] = [:]
    var uncertain: Set<String> = []
    var violations: [String] = []
    var acknowledged = 0
    var unknownOutcomes = 0
}

/// A value shared between tasks.
final class SharedValue<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value { storage.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { storage.withLock { body(&$0) } }
}

/// A mixed workload: creates (60%), mkdir, rename, unlink and setattr on the worker's own names.
enum Workload {
    static func run(client: AlmanacClient, directory: UInt64, prefix: String, operations: Int,
                    progress: SharedValue<Int>, beforeOperation: @Sendable (Int) async -> Void = { _ in }) async -> WorkloadModel {
        var model = WorkloadModel()
        var order: [String] = []  // acknowledged regular files, oldest first
        for i in 0..<operations {
            await beforeOperation(i)
            let kind = i % 10
            do throws(AlmanacClientError) {
                switch kind {
                case 6 where !order.isEmpty:
                    let old = order.removeFirst()
                    let new = "\(old)-r"
                    do throws(AlmanacClientError) {
                        try await client.rename(parent: directory, name: old, newParent: directory, newName: new)
                        model.present[new] = model.present.removeValue(forKey: old)
                        if let size = model.sizes.removeValue(forKey: old) { model.sizes[new] = size }
                        order.append(new)
                    } catch where error.isClusterUnavailable {
                        model.present.removeValue(forKey: old)
                        model.sizes.removeValue(forKey: old)
                        model.uncertain.formUnion([old, new])
                        model.unknownOutcomes += 1
                        continue
                    }
                case 7 where order.count > 3:
                    let victim = order.removeFirst()
                    do throws(AlmanacClientError) {
                        try await client.unlink(parent: directory, name: victim)
                        model.present.removeValue(forKey: victim)
                        model.sizes.removeValue(forKey: victim)
                    } catch where error.isClusterUnavailable {
                        model.present.removeValue(forKey: victim)
                        model.sizes.removeValue(forKey: victim)
                        model.uncertain.insert(victim)
                        model.unknownOutcomes += 1
                        continue
                    }
                case 8 where !order.isEmpty:
                    let name = order[order.count - 1]
                    guard let inode = model.present[name] else { break }
                    do throws(AlmanacClientError) {
                        let attributes = try await client.setattr(inode, AttributeChanges(size: UInt64(i)))
                        if attributes.size != UInt64(i) { model.violations.append("setattr \(name) returned size \(attributes.size), not \(i)") }
                        model.sizes[name] = UInt64(i)
                    } catch where error.isClusterUnavailable {
                        model.sizes.removeValue(forKey: name)
                        model.unknownOutcomes += 1
                        continue
                    }
                case 9:
                    let name = "\(prefix)-d\(i)"
                    do throws(AlmanacClientError) {
                        let attributes = try await client.mkdir(parent: directory, name: name)
                        model.present[name] = attributes.inode
                    } catch where error.isClusterUnavailable {
                        model.uncertain.insert(name)
                        model.unknownOutcomes += 1
                        continue
                    }
                default:
                    let name = "\(prefix)-f\(i)"
                    do throws(AlmanacClientError) {
                        let attributes = try await client.create(parent: directory, name: name)
                        model.present[name] = attributes.inode
                        order.append(name)
                    } catch where error.isClusterUnavailable {
                        model.uncertain.insert(name)
                        model.unknownOutcomes += 1
                        continue
                    }
                }
                model.acknowledged += 1
                progress.update { $0 += 1 }
            } catch {
                model.violations.append("operation \(i) (kind \(kind)) failed: \(error)")
            }
        }
        return model
    }

    /// Checks the directory listing against the workers' models.
    static func verify(listing: [DirectoryEntry], models: [WorkloadModel], prefixes: [String]) -> [String] {
        var problems = models.flatMap(\.violations)
        var seen: [String: DirectoryEntry] = [:]
        for entry in listing {
            if seen[entry.name] != nil { problems.append("\(entry.name) is listed twice") }
            seen[entry.name] = entry
        }
        for model in models {
            for (name, inode) in model.present {
                guard let entry = seen[name] else {
                    problems.append("acknowledged \(name) is missing (lost write)")
                    continue
                }
                if entry.inode != inode { problems.append("\(name) has inode \(entry.inode), acknowledged as \(inode)") }
                if let size = model.sizes[name], entry.hasAttributes, entry.attributes.size != size {
                    problems.append("\(name) has size \(entry.attributes.size), acknowledged \(size)")
                }
            }
        }
        let known = models.reduce(into: Set<String>()) { $0.formUnion($1.present.keys); $0.formUnion($1.uncertain) }
        for name in seen.keys where !known.contains(name) && prefixes.contains(where: { name.hasPrefix($0 + "-") }) {
            problems.append("\(name) exists but was never acknowledged nor left uncertain")
        }
        return problems
    }
}
