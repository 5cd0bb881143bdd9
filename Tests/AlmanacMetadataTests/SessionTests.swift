import Testing
@testable import AlmanacMetadata

@Suite("Exactly-once sessions")
struct SessionTests {
    @Test func sessionIDsAreLogIndexes() {
        var h = Harness()
        #expect(h.session == 1)
        _ = h.mkdir(.root, "a")
        let second = h.registerSession()
        #expect(second == h.index)
        #expect(h.machine.hasSession(second) && h.machine.sessionCount == 2)
        let bad = h.machine.apply(
            CommandEnvelope(shardID: 0, sessionID: 5, sequence: 0, time: h.time, operation: .registerSession), at: h.nextIndex())
        #expect(bad.errorCode == .einval)
    }

    @Test func retryReturnsTheFirstResultWithoutReapplying() throws {
        var h = Harness()
        let op = MetadataOperation.create(parent: .root, name: "f", mode: 0o644, uid: 1, gid: 1)
        let first = h.run(op)
        guard case .success(.attributes(let created)) = first else { Issue.record("create failed"); return }
        let afterFirst = h.machine
        // The client did not see the answer and retries with the same sequence number.
        h.time.nanoseconds += 5_000
        let retry = h.machine.apply(h.envelope(op, sequence: h.sequence), at: h.nextIndex())
        #expect(retry == first)  // not EEXIST
        #expect(h.machine.namespaceEquals(afterFirst))
        #expect(try h.machine.getattr(created.id).version == 1)
        // A failed command's retry gets the same failure.
        let failing = h.run(.rmdir(parent: .root, name: "f"))
        #expect(failing.errorCode == .enotdir)
        let failingRetry = h.machine.apply(h.envelope(.rmdir(parent: .root, name: "f"), sequence: h.sequence), at: h.nextIndex())
        #expect(failingRetry == failing)
    }

    @Test func retryOfANonIdempotentRenameIsNotReapplied() throws {
        var h = Harness()
        _ = h.create(.root, "a")
        let rename = MetadataOperation.rename(fromParent: .root, fromName: "a", toParent: .root, toName: "b")
        #expect(h.run(rename) == .success(.done))
        _ = h.create(.root, "a")  // a new "a" appears
        let retry = h.machine.apply(h.envelope(rename, sequence: h.sequence - 1), at: h.nextIndex())
        #expect(retry == .success(.done))
        #expect(h.names(.root) == ["a", "b"])  // the new "a" was not renamed over "b"
    }

    @Test func classicWindowOfOneRefusesOlderSequences() {
        var h = Harness(config: MetadataConfig(sessionResultWindow: 1))
        _ = h.mkdir(.root, "a")
        _ = h.mkdir(.root, "b")
        let old = h.machine.apply(h.envelope(.mkdir(parent: .root, name: "a", mode: 0o755, uid: 0, gid: 0), sequence: 1), at: h.nextIndex())
        #expect(old.errorCode == .staleSequence)
        let latest = h.machine.apply(h.envelope(.mkdir(parent: .root, name: "b", mode: 0o755, uid: 0, gid: 0), sequence: 2), at: h.nextIndex())
        #expect(latest.outcome != nil)
        #expect(h.names(.root) == ["a", "b"])
    }

    @Test func pipelinedSequencesInsideTheWindowApplyOnceEach() {
        var h = Harness(config: MetadataConfig(sessionResultWindow: 4))
        func mk(_ name: ByteString) -> MetadataOperation { .mkdir(parent: .root, name: name, mode: 0o755, uid: 0, gid: 0) }
        // Sequence 2 is committed before sequence 1 (it overtook it, e.g. across a leader change).
        let two = h.machine.apply(h.envelope(mk("two"), sequence: 2), at: h.nextIndex())
        let one = h.machine.apply(h.envelope(mk("one"), sequence: 1), at: h.nextIndex())
        #expect(two.outcome != nil && one.outcome != nil)
        #expect(h.machine.apply(h.envelope(mk("one"), sequence: 1), at: h.nextIndex()) == one)
        #expect(h.machine.apply(h.envelope(mk("two"), sequence: 2), at: h.nextIndex()) == two)
        for sequence in UInt64(3)...9 {
            _ = h.machine.apply(h.envelope(mk(ByteString("s\(sequence)")), sequence: sequence), at: h.nextIndex())
        }
        // Window is 6...9: 5 was applied but its result is gone.
        let stale = h.machine.apply(h.envelope(mk("s5"), sequence: 5), at: h.nextIndex())
        #expect(stale.errorCode == .staleSequence)
        #expect(h.machine.sessions[h.session]?.results.count == 4)
        #expect(h.names(.root).count == 9)
    }

    @Test func sequenceJumpsPruneTheWindow() {
        var h = Harness(config: MetadataConfig(sessionResultWindow: 4))
        func apply(_ sequence: SequenceNumber) -> CommandResult {
            h.machine.apply(h.envelope(.keepAlive, sequence: sequence), at: h.nextIndex())
        }
        for sequence in UInt64(1)...4 { #expect(apply(sequence) == .success(.done)) }
        #expect(h.machine.sessions[h.session]?.results.count == 4)
        #expect(apply(100) == .success(.done))
        #expect(h.machine.sessions[h.session]?.results.keys.sorted() == [100])
        #expect(apply(4).errorCode == .staleSequence)
        #expect(apply(96).errorCode == .staleSequence)
        #expect(apply(98) == .success(.done))  // inside the window and never applied
        #expect(apply(101) == .success(.done))
        #expect(h.machine.sessions[h.session]?.results.keys.sorted() == [98, 100, 101])
        #expect(apply(102) == .success(.done))
        #expect(h.machine.sessions[h.session]?.results.keys.sorted() == [100, 101, 102])
    }

    @Test func sequenceZeroAndUnknownSessionsAreRefused() {
        var h = Harness()
        let zero = h.machine.apply(h.envelope(.mkdir(parent: .root, name: "z", mode: 0o755, uid: 0, gid: 0), sequence: 0), at: h.nextIndex())
        #expect(zero.errorCode == .einval)
        let unknown = h.machine.apply(h.envelope(.keepAlive, sequence: 1, session: 424_242), at: h.nextIndex())
        #expect(unknown.errorCode == .unknownSession)
        let none = h.machine.apply(h.envelope(.keepAlive, sequence: 1, session: 0), at: h.nextIndex())
        #expect(none.errorCode == .unknownSession)
    }

    /// A keep-alive without a sequence (a client asking for an answer at commit to confirm its
    /// writes acknowledged ahead of it) refreshes the lease and records nothing: the session's
    /// window and results are as before, and it can be repeated.
    @Test func anUnsequencedKeepAliveRefreshesTheLeaseAndRecordsNothing() {
        var h = Harness()
        _ = h.mkdir(.root, "a")
        let before = h.machine
        for _ in 0..<3 {
            h.time.nanoseconds += 1_000
            #expect(h.machine.apply(h.envelope(.keepAlive, sequence: 0), at: h.nextIndex()) == .success(.done))
        }
        #expect(h.machine.namespaceEquals(before))
        #expect(h.machine.sessionResult(session: h.session, sequence: 0) == nil)
        // The next sequenced write is unaffected.
        #expect(h.run(.mkdir(parent: .root, name: "b", mode: 0o755, uid: 0, gid: 0)).errorCode == nil)
    }

    @Test func idleSessionExpiresByCommandTimeAndLosesItsHandles() throws {
        let timeout: Int64 = 10_000_000_000
        var h = Harness(config: MetadataConfig(sessionTimeoutNanoseconds: timeout))
        guard case let .opened(_, file, _) = h.ok(.open(
            parent: .root, name: "f", flags: OpenFlags(access: .readWrite, create: true), mode: 0o644, uid: 0, gid: 0))
        else { Issue.record("no handle"); return }
        h.ok(.unlink(parent: .root, name: "f"))  // open orphan
        // Exactly at the timeout the session is still alive.
        h.time.nanoseconds += timeout - 1_000
        h.ok(.keepAlive)
        h.time.nanoseconds += timeout + 1
        let expired = h.machine.apply(h.envelope(.keepAlive, sequence: h.sequence + 1), at: h.nextIndex())
        #expect(expired.errorCode == .sessionExpired)
        #expect(!h.machine.hasSession(h.session))
        #expect(h.machine.openHandleCount == 0)
        #expect(queryError { () throws(MetadataError) in try h.machine.getattr(file.id) } == .enoent)
        let after = h.machine.apply(h.envelope(.keepAlive, sequence: h.sequence + 2), at: h.nextIndex())
        #expect(after.errorCode == .unknownSession)
    }

    @Test func otherSessionsTrafficReclaimsIdleSessions() {
        let timeout: Int64 = 1_000_000_000
        var h = Harness(config: MetadataConfig(sessionTimeoutNanoseconds: timeout))
        let idle = h.session
        h.session = h.registerSession()
        for _ in 0..<5 {
            h.time.nanoseconds += timeout / 2
            h.ok(.keepAlive)
        }
        #expect(!h.machine.hasSession(idle))
        #expect(h.machine.hasSession(h.session))
    }

    @Test func closeSessionClosesHandles() {
        var h = Harness()
        h.ok(.open(parent: .root, name: "f", flags: OpenFlags(access: .readWrite, create: true), mode: 0o644, uid: 0, gid: 0))
        h.ok(.open(parent: .root, name: "f", flags: OpenFlags(), mode: 0, uid: 0, gid: 0))
        #expect(h.machine.openHandleCount == 2)
        h.ok(.closeSession)
        #expect(h.machine.openHandleCount == 0 && !h.machine.hasSession(h.session))
        #expect(h.run(.keepAlive).errorCode == .unknownSession)
    }

    @Test func predictedCommandIsConfirmedByEquality() {
        let h = Harness()
        let op = MetadataOperation.create(parent: .root, name: "caf\u{E9}", mode: 0o644, uid: 1, gid: 1)
        let predicted = h.envelope(op, sequence: 3)
        var real = predicted
        real.time = Timestamp(seconds: 99_999)
        #expect(real.confirms(predicted))
        #expect(real != predicted)
        // Decomposed "é" is a different name: no false confirmation.
        real.operation = .create(parent: .root, name: "cafe\u{301}", mode: 0o644, uid: 1, gid: 1)
        #expect(!real.confirms(predicted))
    }
}
