/// One write of a simulated session client (async or predictive): what it sends again, with the
/// same sequence, on a retry or a replay.
struct ClientWrite: Sendable, Hashable {
    var opID: UInt64
    var key: Int
    var sequence: UInt64
    /// Its position in the simulation's operation history.
    var historyPosition: Int
}
