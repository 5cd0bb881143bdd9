import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs background work (snapshot encoding) on a thread of its own at a lower scheduling priority,
/// so that on few cores it does not take the CPU the write path needs. Linux applies `nice` per
/// thread (`setpriority` with who = 0 is the calling thread); elsewhere the priority is unchanged.
enum LowPriorityThread {
    /// The nice value background work runs at.
    static let niceness: Int32 = 10

    /// Starts `work` on a new low-priority thread named `name`.
    static func run(name: String, _ work: @escaping @Sendable () -> Void) {
        let thread = Thread {
            #if os(Linux)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
            #endif
            work()
        }
        thread.name = name
        thread.start()
    }
}
