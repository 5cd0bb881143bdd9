/// Default frame size limits. The length prefix counts the type byte and the body.
public enum WireLimits {
    /// Default maximum frame length on client connections (requests are small; larger is TOO_LARGE).
    public static let defaultClientMaxFrameSize = 1 << 20
    /// Default maximum frame length between peers (batches of log entries, snapshots).
    public static let defaultPeerMaxFrameSize = 64 << 20
}
