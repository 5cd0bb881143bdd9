import AlmanacClient
import Foundation

/// Replica convergence: every node's own (stale) view of a directory, attributes included, must
/// become identical to the leader's linearizable view.
enum Convergence {
    /// A canonical text dump of `directory` and its entries as one client sees them.
    static func dump(_ client: AlmanacClient, directory: UInt64) async throws -> [String] {
        let attributes = try await client.getattr(directory)
        let entries = try await client.readdir(directory, pageSize: 200, withAttributes: true).collect()
        return ["dir \(describe(attributes))"] + entries.map { "\($0.name) \(describe($0.attributes))" }
    }

    static func describe(_ a: FileAttributes) -> String {
        "#\(a.inode) type=\(a.type.rawValue) mode=\(String(a.mode, radix: 8)) size=\(a.size) nlink=\(a.nlink) "
            + "mtime=\(a.mtimeNs) ctime=\(a.ctimeNs) v=\(a.version)"
    }

    /// Waits until every listed node's stale dump equals the linearizable one; returns the
    /// differences left at the deadline (empty when converged).
    static func await(cluster: TestCluster, nodes: [UInt64], directory: UInt64, reference: AlmanacClient,
                      timeout: Duration = .seconds(30)) async -> [String] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var problems: [String] = []
        while clock.now < deadline {
            problems = []
            do {
                let truth = try await dump(reference, directory: directory)
                for node in nodes {
                    let client = cluster.staleClient(node)
                    defer { Task { await client.shutdown() } }
                    do {
                        let view = try await dump(client, directory: directory)
                        if view != truth {
                            let missing = Set(truth).subtracting(view).sorted().prefix(3)
                            let extra = Set(view).subtracting(truth).sorted().prefix(3)
                            problems.append("node \(node) differs (\(view.count) vs \(truth.count) lines); missing \(Array(missing)), extra \(Array(extra))")
                        }
                    } catch {
                        problems.append("node \(node) cannot be read: \(error)")
                    }
                }
            } catch {
                problems.append("linearizable dump failed: \(error)")
            }
            if problems.isEmpty { return [] }
            try? await Task.sleep(for: .milliseconds(300))
        }
        return problems
    }
}
