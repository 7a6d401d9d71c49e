import Atomics

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Signals and libmilter.
///
/// libmilter owns signal handling: `smfi_main` blocks SIGHUP, SIGTERM and SIGINT and starts a thread that
/// `sigwait`s for them (sendmail's libmilter/signal.c). On SIGTERM or SIGHUP it calls
/// `mi_stop_milters(MILTER_STOP)` — close the listening socket, let `smfi_main` return — and on SIGINT
/// `MILTER_ABRT`. So to libmilter, SIGHUP means *stop*, and Debian's libmilter (built with the workers
/// pool) then also closes idle MTA connections: letting it see SIGHUP would drop connections instead of
/// reloading.
///
/// How reload coexists with that thread:
/// - `blockDaemonSignals()` runs first thing in `main`, before any thread exists, so every thread the
///   process ever creates (Swift's pool, libmilter's workers) inherits the mask and only `sigwait` can take
///   these signals — none of them can kill the process by default action or run a handler.
/// - SIGTERM and SIGINT stay libmilter's: its signal thread stops the listener, `smfi_main` returns, and
///   `MilterService` ends, which shuts the service group down gracefully. That is the stop libmilter expects.
/// - Reload has its own signal, SIGUSR1, which libmilter never waits for: `systemctl reload` sends it
///   (`ExecReload=` in the unit) and it is always ours.
/// - SIGHUP, the conventional reload signal, is waited for by both libmilter's thread and ours, and POSIX
///   leaves open which waiter gets it. Linux decides deterministically: for a process-directed signal it
///   offers the signal to the threads that can take it in thread-creation order (`complete_signal` walks
///   the thread list), so the waiter created first wins. `ReloadSignals` therefore starts its thread before
///   `smfi_main` can start libmilter's, and goes straight back to `sigwait` after each signal (it only
///   enqueues a request), so SIGHUP reloads. Should libmilter ever take a SIGHUP (another kernel, or one
///   arriving within the microseconds our thread is not waiting), it stops gracefully as on SIGTERM and the
///   unit's `Restart=always` brings the daemon back; mail is not lost either way
///   (`milter_default_action = accept`).
public enum ProcessSignals {
    /// The signals no thread may take by default action: libmilter's three, plus our reload signal.
    static let daemonSignals: [Int32] = [SIGHUP, SIGTERM, SIGINT, SIGUSR1]

    /// Blocks the daemon's signals in the calling thread — call it from `main` before any thread exists, so
    /// that every later thread inherits the mask.
    public static func blockDaemonSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in daemonSignals { sigaddset(&set, signal) }
        let status = pthread_sigmask(SIG_BLOCK, &set, nil)
        precondition(status == 0, "pthread_sigmask: \(SystemError(errno: status))")
    }
}

/// Turns SIGHUP and SIGUSR1 into reload requests, on a thread of its own that `sigwait`s for them.
/// Create it before `smfi_main` starts (see `ProcessSignals`), and after `blockDaemonSignals()`.
public final class ReloadSignals: Sendable {
    private let thread: OSThread
    private let stopping = ManagedAtomic(false)

    /// Starts the thread; `onSignal` runs on it for every SIGHUP or SIGUSR1 and must return at once.
    public init(onSignal: @escaping @Sendable (Int32) -> Void) {
        let stopping = self.stopping
        self.thread = OSThread {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGHUP)
            sigaddset(&set, SIGUSR1)
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                if stopping.load(ordering: .acquiring) { return }
                onSignal(signal)
            }
        }
    }

    /// Ends the thread: wakes its `sigwait` with a SIGUSR1 directed at it alone. Idempotent.
    public func stop() {
        guard stopping.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        thread.send(signal: SIGUSR1)
        thread.join()
    }
}
