extension MetadataOperation {
    /// The error the state machine answers for this operation when one of its names or its
    /// symlink target is longer than `limits` allow (`ENAMETOOLONG`, or `EINVAL` if the name is
    /// also malformed: the same first error the state machine's own checks give), decided without
    /// journaling the operation. nil when every name and target is within the length limits.
    ///
    /// The backend checks this before encoding a journal entry: a name of, say, 100 KB would
    /// otherwise be refused as an oversized entry (`TOO_LARGE`) instead of with the documented
    /// `ENAMETOOLONG`. Names are the first thing every namespace operation validates, so answering
    /// early gives the same result the state machine would.
    public func lengthLimitError(limits: MetadataLimits) -> MetadataError? {
        var names: [ByteString] = []
        var target: ByteString?
        switch self {
        case .mkdir(_, let name, _, _, _), .create(_, let name, _, _, _), .unlink(_, let name), .rmdir(_, let name),
             .open(_, let name, _, _, _, _), .link(_, _, let name):
            names = [name]
        case .rename(_, let fromName, _, let toName):
            names = [fromName, toName]
        case .symlink(_, let name, let symlinkTarget, _, _):
            names = [name]
            target = symlinkTarget
        default:  // no name or target (sessions, setattr, close, and any case added later)
            return nil
        }
        let nameTooLong = names.contains { $0.byteCount > limits.maxNameBytes }
        let targetTooLong = (target?.byteCount ?? 0) > limits.maxSymlinkTargetBytes
        guard nameTooLong || targetTooLong else { return nil }
        for name in names {
            if let error = Validation.name(name, limits: limits) { return error }
        }
        if let target, let error = Validation.symlinkTarget(target, limits: limits) { return error }
        return nil
    }
}
