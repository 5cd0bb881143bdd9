import AlmanacKeyspace
import Foundation

/// How the placement controller acts on its decisions (set by `almanac ctl controller mode`).
public enum ControllerMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Decide, audit and act.
    case active
    /// Decide and audit, never act (the library's shadow mode on the live cluster).
    case shadow
    /// Only resume migrations and hand-offs left in flight; decide nothing.
    case off
}

/// The controller's lease, kept in the map store beside the map (``ControlRecordName/controllerLease``).
///
/// One node at a time runs the placement controller: the holder of an unexpired lease. The holder
/// renews it by compare-and-swap well before it expires; another node takes it over by
/// compare-and-swap only after it has expired by the holder's clock *and* a margin for clock skew.
/// `term` grows by one at every change of holder. Clocks are wall clocks of different machines: the
/// safety of the data never rests on the lease (every move is fenced by the map's compare-and-swap
/// and the intents in it, docs/controller.md); the lease keeps two controllers from deciding at once.
public struct ControllerLease: Sendable, Hashable, Codable {
    public var holder: NodeID
    public var term: UInt64
    /// The holder's wall clock (milliseconds since 1970) when it last started a renewal.
    public var renewedAtMillis: UInt64
    public var durationMillis: UInt64
    /// The operator's mode, kept across renewals and takeovers.
    public var mode: ControllerMode
    /// The holder's settings (what `ctl plan` and `ctl predict` replay the load with); nil in a
    /// record no controller has written yet.
    public var settings: ControllerSettings?

    public init(holder: NodeID, term: UInt64, renewedAtMillis: UInt64, durationMillis: UInt64, mode: ControllerMode,
                settings: ControllerSettings? = nil) {
        self.settings = settings
        self.holder = holder
        self.term = term
        self.renewedAtMillis = renewedAtMillis
        self.durationMillis = durationMillis
        self.mode = mode
    }

    public var expiresAtMillis: UInt64 { renewedAtMillis &+ durationMillis }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)).map(Array.init) ?? []
    }

    public static func decode(_ bytes: [UInt8]) throws(ControllerRecordError) -> ControllerLease {
        do {
            return try JSONDecoder().decode(ControllerLease.self, from: Data(bytes))
        } catch {
            throw ControllerRecordError(description: "malformed controller lease: \(error)")
        }
    }
}

/// A control record that cannot be read.
public struct ControllerRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// The lease rules (pure): what a node writes, if anything, when it sees the current lease.
public struct ControllerElection: Sendable, Hashable {
    public var node: NodeID
    public var leaseMillis: UInt64
    /// Added to a lease's expiry before another node may take it (bounds the clocks' disagreement).
    public var skewMarginMillis: UInt64

    public init(node: NodeID, leaseMillis: UInt64 = 6_000, skewMarginMillis: UInt64 = 1_000) {
        self.node = node
        self.leaseMillis = leaseMillis
        self.skewMarginMillis = skewMarginMillis
    }

    /// How often the holder renews (a third of the lease, so two renewals may fail before it lapses).
    public var renewEveryMillis: UInt64 { max(1, leaseMillis / 3) }

    /// The lease this node should write at `now` (its clock, started before the write), or nil to
    /// leave the stored one alone. `mode` is the mode of a first lease.
    public func nextLease(current: ControllerLease?, now: UInt64, mode: ControllerMode = .active) -> ControllerLease? {
        guard let current else {
            return ControllerLease(holder: node, term: 1, renewedAtMillis: now, durationMillis: leaseMillis, mode: mode)
        }
        if current.holder == node {
            var renewed = current
            renewed.renewedAtMillis = now
            renewed.durationMillis = leaseMillis
            return renewed
        }
        guard now >= current.expiresAtMillis &+ skewMarginMillis else { return nil }
        return ControllerLease(holder: node, term: current.term &+ 1, renewedAtMillis: now, durationMillis: leaseMillis, mode: current.mode)
    }

    /// True while `lease`, written by this node at `lease.renewedAtMillis`, lets it act at `now`
    /// (it stops acting a skew margin before the others may take over).
    public func mayAct(holding lease: ControllerLease, now: UInt64) -> Bool {
        lease.holder == node && now &+ skewMarginMillis < lease.expiresAtMillis
    }
}
