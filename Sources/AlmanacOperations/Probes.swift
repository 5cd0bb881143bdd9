/// The answers of `/healthz` and `/readyz` (pure: computed from a ``NodeSnapshot``).
public enum Probes {
    /// A probe's verdict: `ok`, and the reasons when not.
    public struct Verdict: Sendable, Equatable {
        public var ok: Bool
        public var reasons: [String]

        public init(ok: Bool, reasons: [String]) {
            self.ok = ok
            self.reasons = reasons
        }
    }

    /// `/healthz`: the process answers and its host still serves (it stops on a storage failure).
    public static func health(_ snapshot: NodeSnapshot?) -> Verdict {
        guard let snapshot else { return Verdict(ok: false, reasons: ["the host is not running"]) }
        if let reason = snapshot.stoppedReason { return Verdict(ok: false, reasons: ["host stopped: \(reason)"]) }
        return Verdict(ok: true, reasons: [])
    }

    /// `/readyz`: healthy, and every hosted group knows a leader and has applied all but at most
    /// `maxApplyLag` of its committed entries ("caught up and serving"). A node hosting no group
    /// (more nodes in its zone than shards) has nothing to catch up and is ready when healthy.
    public static func readiness(_ snapshot: NodeSnapshot?, maxApplyLag: UInt64) -> Verdict {
        let health = health(snapshot)
        guard health.ok, let snapshot else { return health }
        var reasons: [String] = []
        for group in snapshot.groups {
            if group.leader == 0 { reasons.append("shard \(group.group): no leader known (term \(group.term))") }
            if group.applyLag > maxApplyLag {
                reasons.append("shard \(group.group): applied \(group.applied) of commit \(group.commit) "
                    + "(lag \(group.applyLag) > \(maxApplyLag))")
            }
        }
        return Verdict(ok: reasons.isEmpty, reasons: reasons)
    }
}
