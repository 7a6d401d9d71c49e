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
///   process ever creates (Swift's pool, libmilter's) inherits the mask: none of them can take these
///   signals, by default action or otherwise.
/// - SIGTERM and SIGINT stay libmilter's: its signal thread stops the listener, `smfi_main` returns, and
///   `MilterService` ends, which shuts the service group down gracefully. That is the stop libmilter expects.
/// - Reload is SIGUSR1, which libmilter never waits for: `ReloadSignals`' thread `sigwait`s for it, and
///   `systemctl reload` sends it (`ExecReload=`). While that thread is busy a SIGUSR1 stays pending, so
///   none is lost.
/// - SIGHUP, the conventional reload signal, is also in libmilter's `sigwait` set, and POSIX leaves open
///   which thread gets a signal that several can take. Linux offers a process-directed signal to the
///   main thread first and to the others only if the main thread cannot take it (`complete_signal`). So
///   the main thread, which only waits for the daemon to end (`MainThread`), keeps SIGHUP unblocked with
///   a handler that re-sends it to the process as SIGUSR1 (`kill` is async-signal-safe). `SA_NODEFER`
///   keeps SIGHUP unblocked even while the handler runs; the main thread cannot take it only while a
///   SIGHUP is already pending for it, and then a new one merges with that one. libmilter's thread is
///   never offered a SIGHUP. (`DaemonLifecycleTests.sighupStorm` sends thousands.)
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

    /// Makes the calling thread — the main thread, which must then do nothing but wait — the one that takes
    /// SIGHUP, and turns each into a SIGUSR1 for `ReloadSignals`.
    static func forwardHangupsToReload() {
        var forward = sigaction()
        forward.__sigaction_handler.sa_handler = { _ in _ = kill(getpid(), SIGUSR1) }
        forward.sa_flags = SA_RESTART | Int32(bitPattern: UInt32(SA_NODEFER))
        sigemptyset(&forward.sa_mask)
        sigaction(SIGHUP, &forward, nil)
        var hangup = sigset_t()
        sigemptyset(&hangup)
        sigaddset(&hangup, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &hangup, nil)
    }
}

/// Turns reload signals (SIGUSR1, and SIGHUP forwarded as SIGUSR1) into reload requests, on a thread of
/// its own that `sigwait`s for them. See `ProcessSignals`.
public final class ReloadSignals: Sendable {
    private let thread: OSThread
    private let stopping = ManagedAtomic(false)

    /// Starts the thread; `onSignal` runs on it for every reload signal and must return at once.
    public init(onSignal: @escaping @Sendable (Int32) -> Void) {
        let stopping = self.stopping
        self.thread = OSThread {
            var set = sigset_t()
            sigemptyset(&set)
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
