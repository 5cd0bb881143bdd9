import NIOCore

/// A NIO event loop as a task executor. The bench runs each worker with its client's event loop as
/// the task executor preference, so the worker, its `AlmanacClient` and the client's connections
/// all run on that loop's thread: a request is written and its answer resumes the worker without
/// waking another thread, which keeps the load generator's CPU per operation low (it shares the
/// machine with the servers it measures).
final class BenchEventLoopExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        eventLoop.executor.enqueue(job)
    }
}
