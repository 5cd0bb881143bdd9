import AlmanacPotentialEntries
import AlmanacRaft

/// How the register machine applies potential-entry commands: correctly, or with one
/// deliberately broken rule (test-only, ``PotentialEntryFault``).
public struct PotentialRules: Sendable, Hashable {
    public var brokenRule: PotentialEntryFault?
    /// The applying replica's own clock (nanoseconds), read only by the broken rule
    /// ``PotentialEntryFault/sweepByLocalClock``.
    public var localClock: Int64

    public init(brokenRule: PotentialEntryFault? = nil, localClock: Int64 = 0) {
        self.brokenRule = brokenRule
        self.localClock = localClock
    }
}

/// What applying a potential-entry command did (folded into the replica digest).
public enum PotentialOutcome: UInt64, Sendable, Hashable {
    case issued = 1
    case issueRefused
    case confirmed
    case confirmationOfAnAppliedSequence
    case confirmationRefused
    case expired
}

extension KeyValueStateMachine {
    /// Applies `command` at log index `index` by `AlmanacPotentialEntries`' rules, the metadata
    /// state machine's: an issue records the predicted write and changes nothing else; a
    /// confirmation goes through the session's exactly-once check like any write, then executes
    /// the oldest matching pending write as the session's sequence, or is refused before
    /// execution (nothing changes, the sequence stays free); an expiry drops entries. Every
    /// command first sweeps the expired entries by its command time. Returns the write a
    /// confirmation executed (or the recorded result of its sequence), and the outcome.
    mutating func apply(_ command: PotentialCommand, at index: LogIndex,
                        rules: PotentialRules) -> (applied: KeyValueApplied?, outcome: PotentialOutcome) {
        potentials.sweep(now: rules.brokenRule == .sweepByLocalClock ? rules.localClock : command.time)
        switch command {
        case let .issue(session, write, time, expiresAt):
            guard Int(write.key) < values.count else { return (nil, .issueRefused) }
            do throws(PotentialRefusal) {
                try potentials.issue(PendingPotential(id: index, session: session, tag: write.potentialTag, issuedAt: time,
                                                      expiresAt: expiresAt, prepared: write), now: time)
            } catch {
                return (nil, .issueRefused)
            }
            if rules.brokenRule == .issueApplies { return (execute(write), .issued) }
            return (nil, .issued)
        case let .confirm(session, sequence, tag, time):
            let checksSession = rules.brokenRule != .confirmSkipsSessionCheck
            if checksSession, let recorded = sessionResults[session]?[sequence] {
                let command = KeyValueCommand(opID: 0, key: 0, session: session, sequence: sequence)
                return (KeyValueApplied(command: command, result: recorded, duplicate: true), .confirmationOfAnAppliedSequence)
            }
            guard let potential = potentials.confirm(session: session, tag: tag, now: time) else {
                return (nil, .confirmationRefused)
            }
            let write = KeyValueCommand(opID: potential.prepared.opID, key: potential.prepared.key, session: session, sequence: sequence)
            return (execute(write, recordsSession: checksSession), .confirmed)
        case let .expire(ids, _):
            potentials.expire(ids)
            return (nil, .expired)
        }
    }

    /// The result recorded for a session's sequence, if it took effect.
    public func sessionResult(session: UInt64, sequence: UInt64) -> UInt64? { sessionResults[session]?[sequence] }
}
