import Foundation
import Testing

/// Runs the built `almanac` executable (`.build/debug/almanac`) against a test server.
private struct CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: URL? {
        for candidate in [".build/debug/almanac", ".build/x86_64-unknown-linux-gnu/debug/almanac"] {
            let url = packageRoot.appendingPathComponent(candidate)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String]) throws -> Output {
        guard let binary else { throw CLIMissing() }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    struct CLIMissing: Error {}
}

@Suite(.enabled(if: CLI.binary != nil, "the almanac executable is not built (swift build --build-tests builds it)"))
struct CtlCommandTests {
    @Test func fileOperationsStatusAndExitCodes() async throws {
        let cluster = try await TestServer.start()
        let endpoints = ["--endpoints", cluster.endpoint]
        func ctl(_ args: String...) throws -> CLI.Output { try CLI.run(["ctl"] + args + endpoints) }

        #expect(try ctl("mkdir", "/a").status == 0)
        #expect(try ctl("mkdir", "-p", "/a/b/c").status == 0)
        #expect(try ctl("touch", "/a/f", "/a/g").status == 0)
        #expect(try ctl("touch", "/a/f").status == 0)  // existing file: fine
        let ls = try ctl("ls", "/a")
        #expect(ls.status == 0)
        #expect(ls.stdout == "b/\nf\ng\n")
        let long = try ctl("ls", "-l", "/a")
        #expect(long.stdout.contains("drwxr-xr-x") && long.stdout.contains("-rw-r--r--"))
        let json = try ctl("stat", "--json", "/a/f")
        let decoded = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(decoded?.first?["type"] as? String == "file")
        #expect(decoded?.first?["mode"] as? String == "0644")
        #expect(try ctl("mv", "/a/f", "/a/h").status == 0)
        #expect(try ctl("mv", "/a/h", "/a/b").status == 0)  // into a directory
        let tree = try ctl("tree", "/a")
        #expect(tree.status == 0)
        #expect(tree.stdout.contains("├── b/") && tree.stdout.contains("h") && tree.stdout.contains("3 directories... ") == false)
        #expect(tree.stdout.contains("2 directories, 2 files"))
        let status = try ctl("status")
        #expect(status.status == 0 && status.stdout.contains("SHARDS"))
        let statusJSON = try ctl("status", "--json")
        #expect((try JSONSerialization.jsonObject(with: Data(statusJSON.stdout.utf8)) as? [String: Any]) != nil)

        // Operation errors: exit 1 with a POSIX-style message.
        let missing = try ctl("ls", "/x")
        #expect(missing.status == 1)
        #expect(missing.stderr == "ls: /x: no such file or directory (ENOENT)\n")
        let notEmpty = try ctl("rmdir", "/a")
        #expect(notEmpty.status == 1 && notEmpty.stderr.contains("(ENOTEMPTY)"))
        let isDir = try ctl("rm", "/a")
        #expect(isDir.status == 1 && isDir.stderr.contains("(EISDIR)"))
        #expect(try ctl("rm", "-r", "/a").status == 0)
        #expect(try ctl("ls", "/").stdout == "")

        // Usage errors: exit 2.
        #expect(try ctl("ls", "--bogus").status == 2)
        #expect(try ctl("ls", "relative/path").status == 2)
        #expect(try CLI.run(["ctl", "ls"]).status == 2 || ProcessInfo.processInfo.environment["ALMANAC_ENDPOINTS"] != nil)

        // Cluster unavailable: exit 3.
        let down = try CLI.run(["ctl", "ls", "/", "--endpoints", "127.0.0.1:1", "--timeout", "0.5"])
        #expect(down.status == 3)
        #expect(down.stderr.hasPrefix("ls: /: ") && down.stderr.hasSuffix("(UNAVAILABLE)\n"))
        await cluster.stop()
    }
}
