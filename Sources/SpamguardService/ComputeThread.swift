import Dispatch
import DequeModule
import Synchronization

/// The one thread that runs forward passes. CPU-heavy work (10–100 ms per batch) runs here so that it never
/// occupies a thread of Swift's cooperative pool and never blocks the model actor, which must keep answering
/// new requests, model swaps and watchdog pings while a batch computes.
///
/// Jobs run one at a time, in submission order. A single long-lived thread also suits OpenBLAS, whose
/// per-thread buffers are then allocated once.
public final class ComputeThread: Sendable {
    public typealias Job = @Sendable () -> Void

    private final class JobQueue: Sendable {
        private struct State {
            var jobs: Deque<Job> = []
            var stopping = false
        }

        private let state = Mutex(State())
        private let available = DispatchSemaphore(value: 0)

        func push(_ job: @escaping Job) -> Bool {
            let accepted = state.withLock { state in
                guard !state.stopping else { return false }
                state.jobs.append(job)
                return true
            }
            if accepted { available.signal() }
            return accepted
        }

        /// Returns true the first time only.
        func close() -> Bool {
            let first = state.withLock { state in
                defer { state.stopping = true }
                return !state.stopping
            }
            if first { available.signal() }
            return first
        }

        /// Blocks until the next job; nil once closed and drained.
        func next() -> Job? {
            available.wait()
            // A signal without a job is the close request; jobs queued before it have all been taken.
            return state.withLock { $0.jobs.popFirst() }
        }
    }

    private let queue = JobQueue()
    private let thread: OSThread

    public init() {
        thread = OSThread { [queue] in
            while let job = queue.next() { job() }
        }
    }

    /// Queues `job`; returns false (and drops it) once `stop()` has been called.
    @discardableResult
    public func submit(_ job: @escaping Job) -> Bool {
        queue.push(job)
    }

    /// Lets the queued jobs finish, then ends the thread and waits for it. Idempotent.
    public func stop() {
        if queue.close() { thread.join() }
    }
}
