import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs the daemon's async work while the main thread stays parked with the daemon's signals blocked.
///
/// Why not `async` top-level code: on Linux the main thread then ends up in Dispatch's main-queue loop,
/// which clears its signal mask — and Linux offers a process-directed signal to the main thread first, so
/// SIGTERM or SIGHUP would take their default action (kill the process) instead of reaching libmilter's
/// or our `sigwait` threads. Parked here, the main thread keeps the mask `blockDaemonSignals()` gave it.
public enum MainThread {
    /// Runs `body` on Swift's cooperative pool, waits for it on the calling (main) thread, and exits the
    /// process with its result.
    public static func run(_ body: @escaping @Sendable () async -> Int32) -> Never {
        let result = Mutex<Int32>(1)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let status = await body()
            result.withLock { $0 = status }
            done.signal()
        }
        done.wait()
        exit(result.withLock { $0 })
    }
}
