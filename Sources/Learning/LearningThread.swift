import SpamguardService

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The thread all of the learning loop's blocking work runs on — file intake with its fsyncs, finetuning,
/// bundle writing — one job at a time, at the lowest CPU priority (nice 19), so that it never holds a thread of
/// Swift's cooperative pool and yields the CPU to classification.
final class LearningThread: Sendable {
    /// Linux's `nice` for this thread only: on Linux, `setpriority(PRIO_PROCESS, 0, …)` sets the calling
    /// thread's niceness, not the whole process's.
    static let niceness: Int32 = 19

    private let thread = ComputeThread()

    init() {
        thread.submit {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceness)
        }
    }

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
