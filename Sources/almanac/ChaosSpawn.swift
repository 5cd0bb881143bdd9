import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Child processes of a chaos run, with posix_spawn and waitpid (Foundation's Process reaps children on
/// a run loop of its own, which does not mix with a harness that kills and waits for them at will).
enum ChaosSpawn {
    /// Starts `path arguments...` with stdout and stderr appended to `output`, stdin from /dev/null.
    static func spawn(_ path: String, _ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard result == 0 else { throw ChaosError("cannot start \(path): \(String(cString: strerror(result)))") }
        return pid
    }

    /// Waits for `pid` to exit; its exit status (128+signal when killed).
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return exitStatus(status)
    }

    /// nil while `pid` runs; its exit status once it exited (the child is reaped).
    static func poll(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return nil }
        return result == pid ? exitStatus(status) : -1
    }

    private static func exitStatus(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Runs a command to completion (its output appended to `log`); throws when it fails.
func runChaosCommand(_ executable: String, _ arguments: [String], log: String) throws {
    let status = ChaosSpawn.wait(try ChaosSpawn.spawn(executable, arguments, output: log))
    guard status == 0 else {
        throw ChaosError("\(executable) \(arguments.joined(separator: " ")) failed with status \(status); see \(log)")
    }
}
