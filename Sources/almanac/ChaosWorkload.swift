import AlmanacClient
import AlmanacSimulation
import Foundation
import Synchronization

/// What one chaos client did: its register history (for the linearizability checker), the names it
/// created and removed (for the lost/duplicate check), and every acknowledged write's times (for
/// recovery times). Times are microseconds since the run started.
struct ChaosClientRecord: Sendable {
    var registerHistory: [KeyValueOperation] = []
    /// Names whose create (or unlink) was acknowledged and not undone since.
    var present: Set<String> = []
    /// Names whose acknowledged unlink must have removed them.
    var removed: Set<String> = []
    /// Names whose create or unlink has an unknown outcome.
    var uncertain: Set<String> = []
    /// (invoked, completed) of every acknowledged write.
    var acknowledgedWrites: [(invoked: UInt64, completed: UInt64)] = []
    var reads = 0
    var unknownOutcomes = 0
    var violations: [String] = []
}

/// A flag the workers poll.
final class ChaosStopFlag: Sendable {
    private let stopped = Mutex(false)
    var isSet: Bool { stopped.withLock { $0 } }
    func set() { stopped.withLock { $0 = true } }
}

/// The chaos workload: each client, in a closed loop, writes unique values to shared register files
/// (setattr size; 40%), reads them (getattr, linearizable; 35%), creates uniquely named files (15%)
/// and unlinks its own (10%).
struct ChaosWorkload: Sendable {
    let directory: UInt64
    /// The register files' inodes; register k is file `reg-k`.
    let registers: [UInt64]
    let started: ContinuousClock.Instant

    func now() -> UInt64 {
        let elapsed = ContinuousClock.now - started
        return UInt64(elapsed.components.seconds) * 1_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
    }

    func run(worker: Int, client: AlmanacClient, seed: UInt64, stop: ChaosStopFlag) async -> ChaosClientRecord {
        var record = ChaosClientRecord()
        var random = Xoshiro256StarStar.derived(seed: seed, stream: UInt64(worker) + 1000)
        var order: [String] = []
        var counter: UInt64 = 0
        while !stop.isSet {
            counter += 1
            let dice = random.next(below: 100)
            let key = random.next(below: registers.count)
            let invoked = now()
            do throws(AlmanacClientError) {
                switch dice {
                case 0..<40:
                    let value = UInt64(worker + 1) * 1_000_000_000 + counter
                    do throws(AlmanacClientError) {
                        let attributes = try await client.setattr(registers[key], AttributeChanges(size: value))
                        let completed = now()
                        if attributes.size != value { record.violations.append("setattr reg-\(key) to \(value) answered size \(attributes.size)") }
                        record.registerHistory.append(KeyValueOperation(key: key, kind: .write(value: value), invoked: invoked, completed: completed))
                        record.acknowledgedWrites.append((invoked, completed))
                    } catch where error.isClusterUnavailable {
                        record.registerHistory.append(KeyValueOperation(key: key, kind: .write(value: value), invoked: invoked, completed: nil))
                        record.unknownOutcomes += 1
                    }
                case 40..<75:
                    do throws(AlmanacClientError) {
                        let attributes = try await client.getattr(registers[key])
                        record.registerHistory.append(KeyValueOperation(key: key, kind: .read(value: attributes.size), invoked: invoked, completed: now()))
                        record.reads += 1
                    } catch where error.isClusterUnavailable {
                        // A read without an answer observed nothing.
                    }
                case 75..<90,
                     _ where order.isEmpty:
                    let name = "w\(worker)-\(counter)"
                    do throws(AlmanacClientError) {
                        _ = try await client.create(parent: directory, name: name)
                        record.acknowledgedWrites.append((invoked, now()))
                        record.present.insert(name)
                        order.append(name)
                    } catch where error.isClusterUnavailable {
                        record.uncertain.insert(name)
                        record.unknownOutcomes += 1
                    }
                default:
                    let name = order.removeFirst()
                    record.present.remove(name)
                    do throws(AlmanacClientError) {
                        try await client.unlink(parent: directory, name: name)
                        record.acknowledgedWrites.append((invoked, now()))
                        record.removed.insert(name)
                    } catch where error.isClusterUnavailable {
                        record.uncertain.insert(name)
                        record.unknownOutcomes += 1
                    }
                }
            } catch {
                // A namespace error on an operation valid against this client's own model: a lost or
                // duplicated apply (e.g. EEXIST for a fresh unique name, ENOENT for an acknowledged one).
                record.violations.append("worker \(worker) op \(counter) (dice \(dice)) failed: \(error)")
            }
        }
        return record
    }
}
