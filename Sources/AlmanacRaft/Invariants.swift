/// Always-on safety assertions of one node.
///
/// A violation stops the process with `precondition` and a message naming what broke, for example
/// "raft invariant violated: commit index decreased from 7 to 5 on node 2". The only exception is a
/// node running with deliberate ``SafetyFault``s (tests only): there the violation is recorded in
/// ``RaftNode/invariantViolations`` instead, so that a simulator can report it as a finding rather
/// than crash the test process.
struct InvariantChecker: Sendable {
    let node: NodeID
    let recordOnly: Bool
    private(set) var violations: [String] = []

    // Last observed values, for monotonicity checks.
    private var term: Term = 0
    private var vote: NodeID = 0
    private var commit: LogIndex = 0

    init(node: NodeID, recordOnly: Bool) {
        self.node = node
        self.recordOnly = recordOnly
    }

    /// Reports a broken invariant: stops the node (or records it when deliberate faults are on).
    mutating func fail(_ what: String) {
        let message = "raft invariant violated: \(what) on node \(node)"
        if recordOnly {
            violations.append(message)
        } else {
            preconditionFailure(message)
        }
    }

    mutating func check(_ condition: Bool, _ what: @autoclosure () -> String) {
        if !condition { fail(what()) }
    }

    /// Seeds the monotonic values from recovered state.
    mutating func start(term: Term, vote: NodeID, commit: LogIndex) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    /// Checks the node-wide invariants after every public operation.
    mutating func observe(term: Term, vote: NodeID, commit: LogIndex, applied: LogIndex, lastIndex: LogIndex,
                          firstIndex: LogIndex, role: RaftRole, lastLogTerm: Term) {
        let prevTerm = self.term, prevVote = self.vote, prevCommit = self.commit
        check(term >= prevTerm, "term decreased from \(prevTerm) to \(term)")
        if term == prevTerm && prevVote != 0 {
            check(vote == prevVote, "vote changed from \(prevVote) to \(vote) within term \(term)")
        }
        check(commit >= prevCommit, "commit index decreased from \(prevCommit) to \(commit)")
        check(applied <= commit, "applied index \(applied) beyond commit index \(commit)")
        check(commit <= lastIndex, "commit index \(commit) beyond last index \(lastIndex)")
        check(firstIndex <= lastIndex + 1, "first index \(firstIndex) beyond last index \(lastIndex) + 1")
        if role == .leader {
            check(lastLogTerm <= term, "leader of term \(term) holds an entry of later term \(lastLogTerm)")
        }
        if term > self.term {
            self.term = term
            self.vote = vote
        } else if term == self.term && self.vote == 0 {
            self.vote = vote
        }
        self.commit = max(self.commit, commit)
    }
}
