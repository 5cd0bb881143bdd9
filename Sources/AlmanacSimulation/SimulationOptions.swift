import AlmanacRaft

/// Everything that defines one simulated run. Two runs with equal options are identical.
public struct SimulationOptions: Sendable, Hashable {
    /// The single seed every random choice derives from.
    public var seed: UInt64
    /// Events processed during the fault phase (each delivery, tick, fsync, crash, client or nemesis action is one step).
    public var steps: Int
    /// Initial voters (3 or 5 in the CI budget).
    public var nodeCount: Int
    /// Fresh node ids that membership changes may add as learners and promote.
    public var spareNodeCount: Int
    /// A deliberately broken Raft rule (test-only), or nil for the correct core.
    public var fault: SafetyFault?
    /// Registers in the client workload.
    public var keyCount: Int
    /// Simulated microseconds per Raft tick.
    public var tickMicros: UInt64
    public var electionTick: Int
    public var heartbeatTick: Int
    /// After the faults stop, the cluster must elect a leader and commit every pending proposal within this many ticks.
    public var livenessTicks: Int
    /// Whether nemesis actions (partitions, crashes, drops, ...) run during the fault phase.
    public var injectFaults: Bool
    /// Whether membership changes, leadership transfers and forced elections run during the fault phase.
    public var reconfigure: Bool
    /// Whether membership changes may remove or demote the current leader itself (on by default;
    /// it once deadlocked the cluster, see docs/simulation.md, "Bugs found").
    public var allowLeaderRemoval: Bool
    /// How many of the latest notable events (elections, crashes, partitions, ...) the report keeps,
    /// for debugging a failed seed. 0 keeps none and costs nothing. Does not change the run.
    public var eventLogLength: Int
    /// Clients writing with `async` durability (answered ahead of commit by the leader, replayed
    /// by the client after a leader change; docs/simulation.md, "Async durability"). 0 runs none.
    public var asyncClients: Int
    /// A new leader's replay window, in ticks (production: `HostConfiguration.asyncReplayWindow`).
    public var asyncReplayWindowTicks: Int
    /// A deliberately broken async-durability rule (test-only), or nil.
    public var asyncFault: AsyncDurabilityFault?
    /// Clients whose next writes leaders predict and journal ahead as potential entries, which
    /// the real write then confirms (docs/simulation.md, "Potential entries"). 0 runs none.
    public var predictiveClients: Int
    /// A deliberately broken potential-entry rule (test-only), or nil.
    public var potentialFault: PotentialEntryFault?

    public init(seed: UInt64, steps: Int = 10_000, nodeCount: Int = 3, spareNodeCount: Int = 4,
                fault: SafetyFault? = nil, keyCount: Int = 4, tickMicros: UInt64 = 10_000,
                electionTick: Int = 10, heartbeatTick: Int = 2, livenessTicks: Int = 400,
                injectFaults: Bool = true, reconfigure: Bool = true, allowLeaderRemoval: Bool = true,
                eventLogLength: Int = 0, asyncClients: Int = 0, asyncReplayWindowTicks: Int = 3,
                asyncFault: AsyncDurabilityFault? = nil, predictiveClients: Int = 0,
                potentialFault: PotentialEntryFault? = nil) {
        self.seed = seed
        self.steps = steps
        self.nodeCount = nodeCount
        self.spareNodeCount = spareNodeCount
        self.fault = fault
        self.keyCount = keyCount
        self.tickMicros = tickMicros
        self.electionTick = electionTick
        self.heartbeatTick = heartbeatTick
        self.livenessTicks = livenessTicks
        self.injectFaults = injectFaults
        self.reconfigure = reconfigure
        self.allowLeaderRemoval = allowLeaderRemoval
        self.eventLogLength = eventLogLength
        self.asyncClients = asyncClients
        self.asyncReplayWindowTicks = asyncReplayWindowTicks
        self.asyncFault = asyncFault
        self.predictiveClients = predictiveClients
        self.potentialFault = potentialFault
    }

    /// A shell command that replays this run exactly.
    public var reproduceCommand: String {
        var command = "swift run almanac simulate --seed \(seed) --steps \(steps) --nodes \(nodeCount)"
        if let fault { command += " --fault \(fault.rawValue)" }
        if !allowLeaderRemoval { command += " --no-leader-removal" }
        if asyncClients > 0 { command += " --async-clients \(asyncClients)" }
        if let asyncFault { command += " --async-fault \(asyncFault.rawValue)" }
        if predictiveClients > 0 { command += " --predictive-clients \(predictiveClients)" }
        if let potentialFault { command += " --potential-fault \(potentialFault.rawValue)" }
        return command
    }
}

/// The safety or liveness property a violation breaks.
public enum Invariant: String, Sendable, Hashable, CaseIterable {
    case electionSafety = "at most one leader per term"
    case logMatching = "log matching"
    case leaderCompleteness = "leader completeness"
    case stateMachineSafety = "state-machine safety"
    case commitMonotonic = "commit index monotonic"
    case committedEntryKept = "committed entry never truncated"
    case acknowledgedApplied = "acknowledged proposal applied on every live replica"
    case linearizableReads = "linearizable reads"
    case liveness = "liveness after faults stop"
    case storageContract = "storage contract"
    case exactlyOnce = "a session's write applied at most once"
    case answerAheadMatchesCommit = "an answer ahead of commit is the result its commit produces"
    case releasedWriteCommitted = "a write released as durable is committed"
    case acknowledgedAsyncWriteApplied = "an acknowledged async write of a live client is applied"
    case potentialEntryInvisible = "a potential entry changes no state until its request confirms it"
    case acknowledgedPredictedWriteApplied = "an acknowledged write of a predicted session took effect"
}

/// A deliberately broken rule of potential entries (test-only): each must make the checkers fail.
public enum PotentialEntryFault: String, Sendable, Hashable, CaseIterable {
    /// Issuing a potential entry applies its predicted write at once.
    case issueApplies = "issue-applies"
    /// A confirmation neither checks nor records the session's sequence.
    case confirmSkipsSessionCheck = "confirm-skips-session-check"
    /// Replicas sweep expired entries by their own clock, not the command time.
    case sweepByLocalClock = "sweep-by-local-clock"
    /// The leader answers a refused confirmation as done instead of journaling the full write.
    case refusalAnswered = "refusal-answered"
}

/// A deliberately broken rule of async durability (test-only): each must make the checkers fail.
public enum AsyncDurabilityFault: String, Sendable, Hashable, CaseIterable {
    /// The client forgets a write answered under an older term instead of replaying it.
    case noReplay = "no-replay"
    /// The client releases a write once any response's durable index passes it, whatever its term.
    case releaseWhateverTheTerm = "release-whatever-the-term"
    /// A leader's linearizable reads do not wait for the writes it answered ahead.
    case readsIgnoreAnswersAhead = "reads-ignore-answers-ahead"
    /// The state ahead skips the leader's other proposals (majority writes, replays).
    case stateAheadSkipsOtherProposals = "state-ahead-skips-other-proposals"
}

/// A broken property, with where and when the simulator saw it.
public struct SafetyViolation: Error, Sendable, Hashable, CustomStringConvertible {
    public var invariant: Invariant
    public var detail: String
    public var step: Int
    /// Simulated microseconds.
    public var time: UInt64

    public var description: String { "\(invariant.rawValue) violated at step \(step) (t=\(time)us): \(detail)" }
}

/// Counters describing what a run exercised.
public struct SimulationStats: Sendable, Hashable {
    public var faultSteps = 0
    public var livenessSteps = 0
    public var livenessTicksUsed = 0
    public var simulatedMicros: UInt64 = 0
    public var messagesSent = 0
    public var messagesDropped = 0
    public var messagesDuplicated = 0
    public var leadersElected = 0
    public var highestTerm: Term = 0
    public var crashes = 0
    public var tornCrashes = 0
    public var partitions = 0
    public var membershipChanges = 0
    public var transfers = 0
    public var applicationSnapshots = 0
    public var snapshotsInstalled = 0
    public var writesAcknowledged = 0
    public var readsCompleted = 0
    public var maxCommitIndex: LogIndex = 0
    public var linearizabilityInconclusive = false
    /// Client operations checked for linearizability, and writes among them with an unknown outcome.
    public var historyOperations = 0
    public var unknownWrites = 0
    /// Invariant breaches the Raft core itself recorded (only with a deliberate fault; without one
    /// the core stops the process instead). Not counted as simulator findings.
    public var coreAssertions = 0
    public var firstCoreAssertion: String?
    /// Async durability (``SimulationOptions/asyncClients``): writes answered ahead of commit and
    /// at commit, answers ahead whose commit was checked, writes released as durable.
    public var asyncAnsweredAhead = 0
    public var asyncAnsweredAtCommit = 0
    public var asyncAnswersChecked = 0
    public var asyncReleased = 0
    /// Refusals in a new leader's replay window.
    public var asyncRefusedInWindow = 0
    /// Writes answered ahead and not yet released when their leader crashed or lost leadership,
    /// by the step they had reached: not on the leader's disk, on its disk but not known
    /// committed there, known committed there but not yet released by the client.
    public var asyncLeaderFaultsBeforePersist = 0
    public var asyncLeaderFaultsBeforeCommit = 0
    public var asyncLeaderFaultsBeforeRelease = 0
    /// Replays sent, and those whose answer differed from the first one (lost and executed again).
    public var asyncReplays = 0
    public var asyncReplaysChanged = 0
    /// Client crashes, and answered writes whose client crashed before they were released.
    public var asyncClientCrashes = 0
    public var asyncWritesExposedByClientCrash = 0
    /// Potential entries (``SimulationOptions/predictiveClients``): issues proposed, recorded and
    /// refused at apply; predictions that were wrong (values never written); confirmations
    /// proposed, answered and refused; entries expired by the leader; predicted clients' writes
    /// answered.
    public var potentialIssuesProposed = 0
    public var potentialIssuesRecorded = 0
    public var potentialIssuesRefused = 0
    public var potentialWrongPredictions = 0
    public var potentialConfirmationsProposed = 0
    public var potentialConfirmed = 0
    public var potentialConfirmationsRefused = 0
    public var potentialExpired = 0
    public var predictedWritesAnswered = 0
    /// Leader crashes or step-downs with, respectively, an issue proposed and not yet committed,
    /// an issue committed and not yet confirmed, a confirmation proposed and not yet applied.
    public var potentialLeaderFaultsIssueInFlight = 0
    public var potentialLeaderFaultsIssuedUnconfirmed = 0
    public var potentialLeaderFaultsConfirmationInFlight = 0

    public init() {}
}

/// The outcome of one run.
public struct SimulationReport: Sendable {
    public var options: SimulationOptions
    /// The first violation found, or nil.
    public var violation: SafetyViolation?
    /// A stable hash of every event of the run, for determinism checks.
    public var traceHash: UInt64
    public var stats: SimulationStats
    /// The latest notable events, oldest first (see ``SimulationOptions/eventLogLength``).
    public var eventLog: [String] = []

    public var passed: Bool { violation == nil }

    /// Multi-line summary; failed runs include the seed and the command reproducing them.
    public var summary: String {
        var text = "seed \(options.seed): " + (violation.map { "FAILED: \($0)" } ?? "ok")
        text += "\n  steps=\(stats.faultSteps)+\(stats.livenessSteps) liveness, simulated \(stats.simulatedMicros / 1000)ms,"
        text += " leaders=\(stats.leadersElected) maxTerm=\(stats.highestTerm) commit=\(stats.maxCommitIndex)"
        text += " crashes=\(stats.crashes) (torn \(stats.tornCrashes)) partitions=\(stats.partitions)"
        text += " confChanges=\(stats.membershipChanges) transfers=\(stats.transfers) snapshots=\(stats.applicationSnapshots)/\(stats.snapshotsInstalled)"
        text += " acks=\(stats.writesAcknowledged) reads=\(stats.readsCompleted) trace=\(String(traceHash, radix: 16))"
        if stats.linearizabilityInconclusive {
            text += " (linearizability check inconclusive: \(stats.historyOperations) operations, \(stats.unknownWrites) writes of unknown outcome)"
        }
        if options.asyncClients > 0 {
            text += "\n  async: answered ahead \(stats.asyncAnsweredAhead) (checked at commit \(stats.asyncAnswersChecked)), at commit \(stats.asyncAnsweredAtCommit),"
            text += " released \(stats.asyncReleased), refused in replay window \(stats.asyncRefusedInWindow);"
            text += " leader faults before persist/commit/release \(stats.asyncLeaderFaultsBeforePersist)/\(stats.asyncLeaderFaultsBeforeCommit)/\(stats.asyncLeaderFaultsBeforeRelease);"
            text += " replays \(stats.asyncReplays) (changed \(stats.asyncReplaysChanged)); client crashes \(stats.asyncClientCrashes) exposing \(stats.asyncWritesExposedByClientCrash)"
        }
        if options.predictiveClients > 0 {
            text += "\n  potential entries: issued \(stats.potentialIssuesProposed) (recorded \(stats.potentialIssuesRecorded), refused \(stats.potentialIssuesRefused), wrong \(stats.potentialWrongPredictions)),"
            text += " confirmations \(stats.potentialConfirmationsProposed) (confirmed \(stats.potentialConfirmed), refused \(stats.potentialConfirmationsRefused)), expired \(stats.potentialExpired),"
            text += " writes answered \(stats.predictedWritesAnswered); leader faults issue in flight/issued unconfirmed/confirmation in flight"
            text += " \(stats.potentialLeaderFaultsIssueInFlight)/\(stats.potentialLeaderFaultsIssuedUnconfirmed)/\(stats.potentialLeaderFaultsConfirmationInFlight)"
        }
        if stats.coreAssertions > 0 { text += "\n  core assertions: \(stats.coreAssertions), first: \(stats.firstCoreAssertion ?? "")" }
        if violation != nil { text += "\n  reproduce: \(options.reproduceCommand)" }
        return text
    }
}
