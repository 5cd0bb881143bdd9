import Foundation

/// Context switches of other processes: the sum over every thread of /proc/<pid>/task/*/status's
/// `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches`. Each is one time a thread stopped
/// running (waiting for work, I/O or the CPU) and so, on a busy machine, one wake-up to pay for
/// later: `almanac bench --cpu-pids` reports them per operation beside the CPU.
enum ProcessContextSwitches {
    /// The total over every thread of `pids`, or nil if a process cannot be read.
    static func count(of pids: [Int32]) -> UInt64? {
        var total: UInt64 = 0
        for pid in pids {
            guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return nil }
            for thread in threads {
                // A thread that ended between the listing and the read counts no more.
                guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/status", encoding: .utf8) else { continue }
                total += switches(inStatus: text)
            }
        }
        return total
    }

    /// The voluntary plus involuntary switches named in one status file's text (0 for lines missing).
    static func switches(inStatus text: String) -> UInt64 {
        var total: UInt64 = 0
        for line in text.split(separator: "\n") {
            for key in ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"] where line.hasPrefix(key) {
                total += UInt64(line.dropFirst(key.count).trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        return total
    }
}
