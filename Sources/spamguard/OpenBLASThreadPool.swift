#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS (pthreads build) starts its thread pool when the library loads — before `main`, so before
/// `ProcessSignals.blockDaemonSignals()` — and those threads have every signal unblocked. The kernel may hand a
/// process-directed SIGTERM or SIGHUP to one of them, whose default action then kills the daemon (seen: the
/// first SIGHUP ended it, without a log line and without the last save of the counters). Only
/// `OPENBLAS_NUM_THREADS=1` in the environment at load time keeps the pool from starting; the engine splits
/// its work across cores itself (`BLASSetup.useEngineThreads`), so the pool is not wanted anyway.
enum OpenBLASThreadPool {
    static let variable = "OPENBLAS_NUM_THREADS"

    /// Re-executes this program once with `OPENBLAS_NUM_THREADS=1` unless it already has it. Call first thing
    /// in `main`, while the process has no other thread of its own.
    static func preventAtLoad() {
        if let value = getenv(variable), String(cString: value) == "1" { return }
        setenv(variable, "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only returns on failure: carry on, with the hazard described above.
        let message = "spamguard: cannot re-execute with \(variable)=1 (\(String(cString: strerror(errno)))); "
            + "a signal may stop the daemon without a clean shutdown\n"
        _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}
