import Testing
@testable import AlmanacPredict

@Suite struct StraceParserTests {
    @Test func parsesCompleteCallsResultsAndErrors() {
        let text = """
        08:28:07.717268 openat(AT_FDCWD, "/dev/null", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3
        08:28:07.718438 access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)
        08:28:07.718581 newfstatat(3, "", {st_mode=S_IFREG|0644, st_size=36059, ...}, AT_EMPTY_PATH) = 0
        08:28:07.8 +++ exited with 0 +++
        """
        let (r, skipped) = StraceParser.parse(text)
        #expect(skipped == 0)
        #expect(r.count == 3)
        #expect(r[0].name == "openat" && r[0].args == ["AT_FDCWD", "\"/dev/null\"", "O_WRONLY|O_CREAT|O_TRUNC", "0666"] && r[0].result == 3)
        #expect(r[0].time == ((8 * 60 + 28) * 60 + 7) * 1_000_000 + 717_268)
        #expect(r[1].result == -1 && r[1].errno == "ENOENT")
        #expect(r[2].args.count == 4 && r[2].args[3] == "AT_EMPTY_PATH")
    }

    @Test func joinsUnfinishedAndResumed() {
        let text = """
        10:00:00.000100 openat(AT_FDCWD, "/a/b", O_RDONLY <unfinished ...>
        10:00:00.000300 <... openat resumed>) = 5
        """
        let (r, _) = StraceParser.parse(text)
        #expect(r.count == 1)
        #expect(r.first?.args == ["AT_FDCWD", "\"/a/b\"", "O_RDONLY"])
        #expect(r.first?.result == 5)
        #expect(r.first?.time == 36_000_000_100)
    }

    @Test func quotedCommasParensAndEscapes() {
        let (r, _) = StraceParser.parse(#"01:00:00.5 rename("/x/a,(b)\"q", "/x/c") = 0"#)
        #expect(r.first?.args.count == 2)
        #expect(r.first.flatMap { StraceParser.unquote($0.args[0]) } == "/x/a,(b)\"q")
        #expect(r.first?.time == 3_600_500_000)
        #expect(StraceParser.unquote("\"/t\\303\\251\"...") == "/t\u{e9}")
    }

    @Test func unreadableLinesAreCountedNotFatal() {
        let (r, skipped) = StraceParser.parse("garbage line\n10:00:00.1 close(3\n")
        #expect(r.isEmpty && skipped == 2)
    }
}

@Suite struct TraceEventMapperTests {
    func run(_ text: String, cwd: String? = nil) -> ([TraceEventMapper.Mapped], TraceEventMapper) {
        var m = TraceEventMapper(cwd: cwd)
        let out = StraceParser.parse(text).records.compactMap { m.map($0) }
        return (out, m)
    }

    @Test func resolvesFdRelativeAndCwdAndCollapsesRepeats() {
        let (ev, m) = run("""
        10:00:00.1 chdir("/home/u/repo") = 0
        10:00:00.2 openat(AT_FDCWD, "src", O_RDONLY|O_DIRECTORY|O_CLOEXEC) = 4
        10:00:00.3 getdents64(4, 0x5 /* 3 entries */, 32768) = 80
        10:00:00.4 getdents64(4, 0x5 /* 0 entries */, 32768) = 0
        10:00:00.5 newfstatat(4, "main.c", {st_mode=S_IFREG|0644, ...}, AT_SYMLINK_NOFOLLOW) = 0
        10:00:00.6 newfstatat(4, "", {st_mode=S_IFDIR|0755, ...}, AT_EMPTY_PATH) = 0
        10:00:00.7 openat(4, "../out/x.o", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 5
        10:00:00.8 close(5) = 0
        10:00:00.9 close(4) = 0
        10:00:01.0 close(9) = 0
        """)
        #expect(ev.map(\.path) == ["/home/u/repo", "/home/u/repo/src", "/home/u/repo/src", "/home/u/repo/src/main.c", "/home/u/repo/out/x.o", "/home/u/repo/out/x.o", "/home/u/repo/src"])
        #expect(ev.map(\.op) == [.getattr, .open, .readdir, .getattr, .create, .close, .close])
        #expect(m.collapsedRepeats == 1)
        #expect(m.dropped["fstat-on-open-fd"] == 1 && m.dropped["close-unknown-fd"] == 1)
    }

    @Test func failuresBecomeLookupsAndPseudoFsIsDropped() {
        let (ev, m) = run("""
        10:00:00.1 openat(AT_FDCWD, "/usr/include/x.h", O_RDONLY|O_NOCTTY) = -1 ENOENT (No such file or directory)
        10:00:00.2 access("/etc/ok", R_OK) = 0
        10:00:00.3 openat(AT_FDCWD, "/proc/self/maps", O_RDONLY) = 3
        10:00:00.4 unlinkat(AT_FDCWD, "/tmp/d", AT_REMOVEDIR) = 0
        10:00:00.5 unlink("rel") = 0
        10:00:00.6 getdents64(7, 0x1, 10) = 0
        """)
        #expect(ev.map(\.op) == [.lookup, .getattr, .rmdir, .unlink])
        #expect(ev.last?.path == "@cwd/rel")
        #expect(m.dropped["pseudo-fs"] == 1 && m.dropped["unresolved-fd"] == 1)
    }

    @Test func execveClosesCloexecFds() {
        let (ev, _) = run("""
        10:00:00.1 openat(AT_FDCWD, "/a", O_RDONLY|O_CLOEXEC) = 3
        10:00:00.2 openat(AT_FDCWD, "/b", O_RDONLY) = 4
        10:00:00.3 execve("/usr/bin/cc", ["cc"], 0x1 /* 3 vars */) = 0
        10:00:00.4 close(3) = 0
        10:00:00.5 close(4) = 0
        """)
        #expect(ev.map(\.path) == ["/a", "/b", "/usr/bin/cc", "/b"])
        #expect(ev.last?.op == .close)
    }

    @Test func normalizesPaths() {
        #expect(TraceEventMapper.normalize("/a//b/./c/../d/") == "/a/b/d")
        #expect(TraceEventMapper.normalize("/../x") == "/x")
        #expect(TraceEventMapper.normalize("@cwd/../y") == "@cwd/../y")
    }

    @Test func buildsTraceWithStreamsAndInternedFiles() {
        let t = OpTrace.build(processes: [
            (pid: 2, text: "10:00:00.2 access(\"/x\", F_OK) = 0\n"),
            (pid: 1, text: "10:00:00.1 access(\"/x\", F_OK) = 0\n10:00:00.3 mkdir(\"/y\", 0755) = 0\n"),
        ])
        #expect(t.events.map(\.stream) == [1, 2, 1])
        #expect(t.events.map(\.file) == [0, 0, 1])
        #expect(t.paths == ["/x", "/y"])
    }
}
