import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs the daemon's async work while the main thread stays parked, in charge of SIGHUP only.
///
/// Why not `async` top-level code: on Linux the main thread then ends up in Dispatch's main-queue loop,
/// which clears its signal mask — and Linux offers a process-directed signal to the main thread first, so
/// SIGTERM would take its default action (end the process at once) instead of reaching libmilter. Parked
/// here, the main thread keeps the mask `blockDaemonSignals()` gave it, except for SIGHUP, which it
/// forwards to reload (see `ProcessSignals`).
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
        ProcessSignals.forwardHangupsToReload()
        done.wait()
        exit(result.withLock { $0 })
    }
}
