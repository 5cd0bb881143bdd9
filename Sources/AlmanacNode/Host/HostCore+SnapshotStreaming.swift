import AlmanacRaft
import AlmanacStorage
import Dispatch
import NIOCore

/// Which transfer: a group's snapshot to one receiver.
struct SnapshotSendKey: Hashable {
    var group: UInt64
    var peer: NodeID
}

/// One snapshot file on its way to a receiver: at most `snapshotWindowChunks` chunks are in flight
/// (sent and not acknowledged); acknowledgements open the window, a stall resends from the last
/// acknowledged offset, and Raft asking again for the same snapshot continues the transfer in
/// progress; a receiver that already holds part of it (a transfer the leader forgot) says so in its
/// first acknowledgement and the leader skips ahead. The file is read off the event loop, one
/// window's worth at a time (``HostCore/pumpSnapshot(_:)``).
struct SnapshotSend {
    /// The leader's `installSnapshot` message, without its data (each chunk is a copy of it).
    var template: Message
    var metadata: SnapshotMetadata
    var reference: SnapshotReference
    /// Next byte to send, and bytes the receiver acknowledged holding.
    var nextOffset: UInt64 = 0
    var acknowledged: UInt64 = 0
    var lastProgress: NIODeadline
    /// When the receiver last acknowledged chunks (nil: never): a transfer that is alive.
    var lastAcknowledged: NIODeadline?
    var chunksSent = 0
    /// The receiver acknowledged the whole file.
    var complete = false
    /// Chunks are being read off the loop, starting at this offset.
    var readingFrom: UInt64?

    var snapshotKey: SnapshotKey { SnapshotKey(index: reference.index, term: reference.term) }
}

/// Snapshot streaming, leader side (the receiving side is `receiveChunk`).
extension HostCore {
    /// Starts sending the snapshot of Raft's `installSnapshot` message, or continues the transfer of
    /// the same snapshot to the same receiver.
    func enqueueSnapshot(_ message: Message, of group: GroupReplica<Machine>) {
        guard let snapshot = message.snapshot else { return }
        let key = SnapshotKey(index: snapshot.metadata.index, term: snapshot.metadata.term)
        let sendKey = SnapshotSendKey(group: group.id, peer: message.to)
        var template = message
        template.snapshot = Snapshot(metadata: snapshot.metadata, data: [])
        if var existing = snapshotSends[sendKey], existing.snapshotKey == key {
            // Raft asks again (it re-emits the message while the follower is not caught up): the
            // transfer goes on where it is; only a stall or the receiver's rewind resends.
            existing.template = template
            snapshotSends[sendKey] = existing
            pumpSnapshot(sendKey)
            return
        }
        guard let reference = group.snapshotFiles[key] else {
            writeSnapshotFile(message, snapshot, of: group)
            return
        }
        snapshotSends[sendKey] = SnapshotSend(template: template, metadata: snapshot.metadata, reference: reference, lastProgress: .now())
        snapshotsSent += 1
        group.snapshotsSent += 1
        logger.info("sending snapshot", metadata: [
            "group": "\(group.id)", "to": "\(message.to)", "index": "\(key.index)", "bytes": "\(reference.fileSize)",
            "window": "\(configuration.snapshotWindowChunks) x \(configuration.snapshotChunkBytes) bytes"])
        pumpSnapshot(sendKey)
    }

    /// A snapshot Raft wants sent that is not on file here (none is after a restart only if the
    /// store lost it): it is written off the loop, then the transfer starts.
    private func writeSnapshotFile(_ message: Message, _ snapshot: Snapshot, of group: GroupReplica<Machine>) {
        let key = SnapshotKey(index: snapshot.metadata.index, term: snapshot.metadata.term)
        guard group.snapshotFileWriting != key else { return }  // Raft asking again meanwhile
        guard !snapshot.data.isEmpty else {
            // Raft holds snapshots without their bytes; the file it names is not known here.
            logger.error("snapshot cannot be sent: its file is not known", metadata: [
                "group": "\(group.id)", "to": "\(message.to)", "index": "\(key.index)"])
            group.raft.reportSnapshot(message.to, success: false)
            return
        }
        group.snapshotFileWriting = key
        let store = snapshotStore
        let id = group.id
        let loop = self.loop
        let box = NIOLoopBound(self, eventLoop: loop)
        let background = self.background
        background.begin()
        snapshotFileQueue.async {
            defer { background.end() }
            let outcome = Result { () throws(StorageError) -> SnapshotReference in try store.write(group: id, snapshot: snapshot) }
            loop.execute {
                let core = box.value
                guard let group = core.groups[id] else { return }
                if group.snapshotFileWriting == key { group.snapshotFileWriting = nil }
                switch outcome {
                case .success(let reference):
                    group.snapshotFiles[key] = reference
                    if group.role == .leader { core.enqueueSnapshot(message, of: group) }
                case .failure(let error):
                    core.logger.error("snapshot cannot be sent", metadata: ["group": "\(id)", "to": "\(message.to)", "error": "\(error)"])
                    group.raft.reportSnapshot(message.to, success: false)
                }
                core.scheduleReady()
            }
        }
    }

    /// Bytes a transfer may have sent and not had acknowledged.
    var snapshotWindowBytes: UInt64 {
        UInt64(max(1, configuration.snapshotWindowChunks)) * UInt64(max(1, configuration.snapshotChunkBytes))
    }

    /// Sends chunks while the window has room. The chunks are read off the loop (the file may be
    /// large and cold): one read of the window's missing part at a time, handed back to
    /// ``snapshotChunksRead(_:reference:from:_:)``.
    func pumpSnapshot(_ key: SnapshotSendKey) {
        guard var send = snapshotSends[key], send.readingFrom == nil else { return }
        let end = min(send.acknowledged + snapshotWindowBytes, send.reference.fileSize)
        guard send.nextOffset < end else { return }
        let start = send.nextOffset
        send.readingFrom = start
        snapshotSends[key] = send
        let store = snapshotStore
        let reference = send.reference
        let chunkBytes = configuration.snapshotChunkBytes
        let loop = self.loop
        let box = NIOLoopBound(self, eventLoop: loop)
        let background = self.background
        background.begin()
        snapshotFileQueue.async {
            defer { background.end() }
            let outcome = Result { () throws(StorageError) -> [SnapshotChunk] in
                let reader = try store.chunks(of: reference, chunkSize: chunkBytes)
                var chunks: [SnapshotChunk] = []
                var offset = start
                while offset < end, let chunk = try reader.chunk(at: offset) {
                    chunks.append(chunk)
                    offset = chunk.offset + UInt64(chunk.bytes.count)
                }
                return chunks
            }
            loop.execute { box.value.snapshotChunksRead(key, reference: reference, from: start, outcome) }
        }
    }

    /// Chunks read off the loop: sent if the transfer still wants them from that offset (an ack or
    /// a rewind may have moved it meanwhile); then the window is topped up.
    func snapshotChunksRead(_ key: SnapshotSendKey, reference: SnapshotReference, from start: UInt64,
                            _ outcome: Result<[SnapshotChunk], StorageError>) {
        guard stoppedReason == nil, var send = snapshotSends[key], send.reference == reference, send.readingFrom == start else { return }
        send.readingFrom = nil
        switch outcome {
        case .failure(let error):
            logger.error("snapshot cannot be read", metadata: ["group": "\(key.group)", "to": "\(key.peer)", "error": "\(error)"])
            snapshotSends.removeValue(forKey: key)
            groups[key.group]?.raft.reportSnapshot(key.peer, success: false)
        case .success(let chunks):
                for chunk in chunks where chunk.offset == send.nextOffset && send.nextOffset < send.acknowledged + snapshotWindowBytes {
                var part = send.template
                part.snapshot = Snapshot(metadata: send.metadata, data: chunk.bytes)
                part.context = SnapshotChunkContext(offset: chunk.offset, totalSize: chunk.totalSize).encoded
                enqueue(key.group, part)
                send.nextOffset = chunk.offset + UInt64(chunk.bytes.count)
                send.chunksSent += 1
                snapshotChunksSent += 1
                groups[key.group]?.snapshotBytesSent[key.peer, default: 0] += UInt64(chunk.bytes.count)
            }
            snapshotSends[key] = send
            pumpSnapshot(key)
        }
        scheduleReady()
    }

    /// The receiver's acknowledgement: open the window (or rewind), finish when it holds the file.
    func snapshotAcknowledged(_ ack: SnapshotChunkAck, from peer: NodeID, message: Message, in group: GroupReplica<Machine>) {
        let key = SnapshotSendKey(group: group.id, peer: peer)
        guard var send = snapshotSends[key], send.reference.index == message.index, send.reference.term == message.logTerm else {
            // The receiver could not use a transfer that ended here (its file failed verification):
            // Raft sends a snapshot again.
            if ack.rewind && snapshotSends[key] == nil && group.role == .leader {
                group.raft.reportSnapshot(peer, success: false)
                scheduleReady()
            }
            return
        }
        if ack.rewind {
            send.acknowledged = min(ack.received, send.reference.fileSize)
            send.nextOffset = send.acknowledged
        } else {
            send.acknowledged = max(send.acknowledged, min(ack.received, send.reference.fileSize))
            send.nextOffset = max(send.nextOffset, send.acknowledged)
        }
        send.lastProgress = .now()
        if !ack.rewind { send.lastAcknowledged = send.lastProgress }
        // A live transfer: Raft must not give up on this snapshot after an election timeout.
        if !ack.rewind { group.raft.reportSnapshotProgress(peer) }
        if send.acknowledged >= send.reference.fileSize {
            // Kept, complete, until Raft stops waiting for this follower's snapshot: Raft asks for
            // it again meanwhile, and must not get a second transfer of the same file.
            if !send.complete {
                send.complete = true
                logger.info("snapshot delivered", metadata: [
                    "group": "\(group.id)", "to": "\(peer)", "index": "\(send.reference.index)", "chunks": "\(send.chunksSent)"])
            }
            snapshotSends[key] = send
            return
        }
        snapshotSends[key] = send
        pumpSnapshot(key)
        scheduleReady()
    }

    /// Every tick: drop transfers no longer wanted (leadership lost, the receiver left, it holds
    /// the snapshot's entries, or a finished file Raft no longer waits for); resend stalled ones
    /// from their acknowledged offset. An unfinished transfer outlives Raft's own patience: Raft
    /// probes again after an election timeout without news of a snapshot (the transfer's
    /// acknowledgements are that news, ``RaftNode/reportSnapshotProgress(_:)``), and asks for the
    /// same snapshot again when the receiver still lacks the log; the transfer goes on meanwhile
    /// instead of being dropped and restarted.
    func checkSnapshotSends(now: NIODeadline) {
        for (key, send) in snapshotSends {
            guard let group = groups[key.group], group.role == .leader,
                  let progress = group.raft.status.progress[key.peer], progress.match < send.reference.index,
                  progress.state == .snapshot || !send.complete else {
                snapshotSends.removeValue(forKey: key)
                continue
            }
            guard !send.complete, now - send.lastProgress > configuration.snapshotStallTimeout else { continue }
            var rewound = send
            rewound.nextOffset = rewound.acknowledged
            rewound.lastProgress = now
            snapshotSends[key] = rewound
            logger.info("snapshot transfer stalled; resending from the acknowledged offset", metadata: [
                "group": "\(key.group)", "to": "\(key.peer)", "offset": "\(rewound.acknowledged)"])
            pumpSnapshot(key)
        }
        scheduleReady()
    }

    /// Whether a follower of `group` is catching up from this leader's snapshot: it is receiving
    /// it (acknowledged within the stall timeout), or it is alive (Raft heard from it lately) and
    /// its log ends before the snapshot (it holds the file and is verifying and decoding it, which
    /// takes seconds for a large one, or it is about to be sent it). The entries after the snapshot
    /// are what catch the follower up once it is installed: a checkpoint now would compact them
    /// away and force a second, larger snapshot (seen with a 1 GB shard: the target installed it
    /// 27 s after it joined, the leader had compacted meanwhile and sent another 1.6 GB).
    /// CockroachDB's raft log queue keeps the entries above a pending snapshot's index for the
    /// same reason.
    func followerCatchingUpFromSnapshot(of group: GroupReplica<Machine>, now: NIODeadline) -> Bool {
        let receiving = snapshotSends.contains { key, send in
            key.group == group.id
                && (send.complete || send.lastAcknowledged.map { now - $0 <= configuration.snapshotStallTimeout } ?? false)
        }
        if receiving { return true }
        let snapshotIndex = group.snapshotIndex
        guard snapshotIndex > 0 else { return false }
        return group.raft.status.progress.contains { peer, progress in
            peer != nodeID && progress.recentActive && progress.match < snapshotIndex
        }
    }

    /// Drops `group`'s transfers (its leadership ended).
    func dropSnapshotSends(of group: UInt64) {
        for key in snapshotSends.keys where key.group == group { snapshotSends.removeValue(forKey: key) }
    }
}

/// Snapshot streaming, receiving side: the work after the last chunk.
extension HostCore {
    /// Verifies, fsyncs and moves the received file into place, reads it back and decodes the state
    /// machine on a background thread; back on the loop, steps Raft's `installSnapshot` message
    /// with the whole snapshot (``snapshotPrepared``).
    func prepareReceivedSnapshot(_ file: ReceivedSnapshotFile, template: Message, in group: GroupReplica<Machine>) {
        let store = snapshotStore
        let loop = self.loop
        let box = NIOLoopBound(self, eventLoop: loop)
        let id = group.id
        group.preparingSnapshot = SnapshotKey(index: file.index, term: file.term)
        let background = self.background
        background.begin()
        LowPriorityThread.run(name: "almanac-snapshot-receive") {
            defer { background.end() }
            let outcome: Result<(SnapshotReference, Snapshot, Machine), any Error>
            let started = ContinuousClock.now
            var read = Duration.zero
            do {
                let (reference, snapshot) = try store.finishAndRead(file)
                read = ContinuousClock.now - started
                outcome = .success((reference, snapshot, try Machine.restore(group: id, from: snapshot.data)))
            } catch {
                outcome = .failure(error)
            }
            let timing = PreparationTiming(verified: read, decoded: ContinuousClock.now - started - read)
            loop.execute { box.value.snapshotPrepared(group: id, template: template, outcome, timing: timing) }
        }
    }

    /// How long a received snapshot's preparation took, off the loop: the fsync, verification and
    /// read-back of the file, then the decoding of the state.
    struct PreparationTiming: Sendable {
        var verified: Duration
        var decoded: Duration
    }

    func snapshotPrepared(group id: UInt64, template: Message, _ outcome: Result<(SnapshotReference, Snapshot, Machine), any Error>,
                          timing: PreparationTiming) {
        guard stoppedReason == nil, let group = groups[id] else { return }
        group.preparingSnapshot = nil
        switch outcome {
        case .success(let (reference, snapshot, machine)):
            group.receivedSnapshot = reference
            group.restoredSnapshot = (SnapshotKey(index: reference.index, term: reference.term), machine)
            // Raft gets the metadata only: the state is decoded (`restoredSnapshot`) and on file.
            var whole = template
            whole.snapshot = Snapshot(metadata: snapshot.metadata, data: [])
            whole.context = []
            logger.info("snapshot received", metadata: [
                "group": "\(id)", "index": "\(reference.index)", "bytes": "\(reference.fileSize)",
                "verifiedMs": "\(Int(timing.verified / .milliseconds(1)))", "decodedMs": "\(Int(timing.decoded / .milliseconds(1)))"])
            if group.quiesced { wake(group) }
            group.raft.step(whole)
            scheduleReady()
        case .failure(let error):
            // Corrupt or unreadable: dropped, and the leader told to send one again.
            logger.warning("received snapshot dropped", metadata: ["group": "\(id)", "error": "\(error)"])
            var ack = Message(type: .installSnapshot, from: nodeID, to: template.from, term: template.term,
                              logTerm: template.snapshot?.metadata.term ?? 0, index: template.snapshot?.metadata.index ?? 0)
            ack.context = SnapshotChunkAck(received: 0, rewind: true).encoded
            enqueue(id, ack)
            scheduleReady()
        }
    }
}
