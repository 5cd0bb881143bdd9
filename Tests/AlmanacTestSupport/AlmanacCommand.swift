import Foundation

/// Runs the `almanac` binary in a child process.
public enum AlmanacCommand {
    /// Runs `binary ARGUMENTS` to its end, with the test's environment minus the variables in
    /// `removing`; returns its exit status and its output (stdout and stderr together).
    public static func run(_ binary: String, _ arguments: [String], removing: [String] = []) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for key in removing { environment.removeValue(forKey: key) }
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
