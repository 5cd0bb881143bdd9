import AlmanacRaft
import AlmanacStorage
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
/// first acknowledgement and the leader skips ahead.
struct SnapshotSend {
    /// The leader's `installSnapshot` message, without its data (each chunk is a copy of it).
    var template: Message
    var metadata: SnapshotMetadata
    var reference: SnapshotReference
    var reader: SnapshotChunkReader
    /// Next byte to send, and bytes the receiver acknowledged holding.
    var nextOffset: UInt64 = 0
    var acknowledged: UInt64 = 0
    var lastProgress: NIODeadline
    var chunksSent = 0
    /// The receiver acknowledged the whole file.
    var complete = false

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
        do throws(StorageError) {
            let reference: SnapshotReference
            if let known = group.snapshotFiles[key] {
                reference = known
            } else {
                reference = try snapshotStore.write(group: group.id, snapshot: snapshot)
                group.snapshotFiles[key] = reference
            }
            let reader = try snapshotStore.chunks(of: reference, chunkSize: configuration.snapshotChunkBytes)
            snapshotSends[sendKey] = SnapshotSend(template: template, metadata: snapshot.metadata, reference: reference, reader: reader,
                                                  lastProgress: .now())
            snapshotsSent += 1
            logger.info("sending snapshot", metadata: [
                "group": "\(group.id)", "to": "\(message.to)", "index": "\(key.index)", "bytes": "\(reference.fileSize)",
                "window": "\(configuration.snapshotWindowChunks) x \(configuration.snapshotChunkBytes) bytes"])
            pumpSnapshot(sendKey)
        } catch {
            logger.error("snapshot cannot be sent", metadata: ["group": "\(group.id)", "to": "\(message.to)", "error": "\(error)"])
            group.raft.reportSnapshot(message.to, success: false)
        }
    }

    /// Sends chunks while the window has room.
    func pumpSnapshot(_ key: SnapshotSendKey) {
        guard var send = snapshotSends[key] else { return }
        let window = UInt64(max(1, configuration.snapshotWindowChunks)) * UInt64(max(1, configuration.snapshotChunkBytes))
        do throws(StorageError) {
            while send.nextOffset < send.reference.fileSize, send.nextOffset - send.acknowledged < window {
                guard let chunk = try send.reader.chunk(at: send.nextOffset) else { break }
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
        } catch {
            logger.error("snapshot cannot be read", metadata: ["group": "\(key.group)", "to": "\(key.peer)", "error": "\(error)"])
            snapshotSends.removeValue(forKey: key)
            groups[key.group]?.raft.reportSnapshot(key.peer, success: false)
        }
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

    /// Every tick: drop transfers Raft no longer wants (leadership lost, the receiver left or no
    /// longer waits for a snapshot); resend stalled ones from their acknowledged offset.
    func checkSnapshotSends(now: NIODeadline) {
        for (key, send) in snapshotSends {
            guard let group = groups[key.group], group.role == .leader,
                  group.raft.status.progress[key.peer]?.state == .snapshot else {
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
        LowPriorityThread.run(name: "almanac-snapshot-receive") {
            let outcome: Result<(SnapshotReference, Snapshot, Machine), any Error>
            do {
                let (reference, snapshot) = try store.finishAndRead(file)
                outcome = .success((reference, snapshot, try Machine.restore(group: id, from: snapshot.data)))
            } catch {
                outcome = .failure(error)
            }
            loop.execute { box.value.snapshotPrepared(group: id, template: template, outcome) }
        }
    }

    func snapshotPrepared(group id: UInt64, template: Message, _ outcome: Result<(SnapshotReference, Snapshot, Machine), any Error>) {
        guard stoppedReason == nil, let group = groups[id] else { return }
        group.preparingSnapshot = nil
        switch outcome {
        case .success(let (reference, snapshot, machine)):
            group.receivedSnapshot = reference
            group.restoredSnapshot = (SnapshotKey(index: reference.index, term: reference.term), machine)
            var whole = template
            whole.snapshot = snapshot
            whole.context = []
            logger.info("snapshot received", metadata: ["group": "\(id)", "index": "\(reference.index)", "bytes": "\(reference.fileSize)"])
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
