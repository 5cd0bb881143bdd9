import Dispatch

/// The host's work off its loop that reports back to the loop (snapshot encoding and files, WAL
/// purges), counted so that stopping waits for it before the loop shuts down: a hop onto a loop
/// that has shut down is an error in SwiftNIO (and the report is lost).
final class BackgroundWork: Sendable {
    private let group = DispatchGroup()

    /// Before the work is handed off.
    func begin() { group.enter() }

    /// Once the work has handed its report to the loop (or has none).
    func end() { group.leave() }

    /// Waits until every handed-off piece of work has ended, or `seconds` have passed (a disk that
    /// hangs must not hang the stop); false on the timeout.
    func drained(within seconds: Double) async -> Bool {
        let group = self.group
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: group.wait(timeout: .now() + seconds) == .success)
            }
        }
    }
}
