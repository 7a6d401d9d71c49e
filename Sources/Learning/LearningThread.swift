import SpamguardService

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The thread all of the learning loop's blocking work runs on — file intake with its fsyncs, finetuning,
/// bundle writing — one job at a time, under Linux's `SCHED_IDLE` policy (nice 19 where that is refused), so
/// that it never holds a thread of Swift's cooperative pool and yields the CPU to classification.
final class LearningThread: Sendable {
    /// Linux's `SCHED_IDLE` (glibc declares it only under `_GNU_SOURCE`): the thread runs only on a core nothing
    /// else wants, a waking thread of any other policy preempts it at once, and the scheduler places such a
    /// thread on its core as if the core were idle. Under nice 19 alone it still had a small share of a core
    /// (weight 15 against 1024) and could finish its time slice first, which classification felt in its tail
    /// (scripts/bench-learning-latency).
    static let idlePolicy: Int32 = 5
    /// Linux's `nice` for this thread only (on Linux, `setpriority(PRIO_PROCESS, 0, …)` sets the calling
    /// thread's niceness, not the whole process's): where `SCHED_IDLE` is refused, and for what the thread
    /// starts (it inherits both).
    static let niceness: Int32 = 19

    private let thread = ComputeThread()

    init() {
        thread.submit {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceness)
            var parameters = sched_param(sched_priority: 0)
            _ = sched_setscheduler(0, Self.idlePolicy, &parameters)
        }
    }

    /// The scheduling policy of the calling thread (for tests).
    static var currentPolicy: Int32 { sched_getscheduler(0) }

    /// Runs `work` on the thread and waits for it.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = thread.submit { continuation.resume(with: Result { try work() }) }
            if !accepted { continuation.resume(throwing: CancellationError()) }
        }
    }

    /// Lets a running job finish, then ends the thread.
    func stop() {
        thread.stop()
    }
}
