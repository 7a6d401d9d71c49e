#if canImport(Glibc)
import Glibc
#endif

/// Debian's OpenBLAS (pthreads build) starts a pool of worker threads while the library loads — before
/// `main` can block the daemon's signals — so those threads have every signal unblocked, and a SIGTERM
/// given to one of them would end the process at once instead of reaching libmilter. The engine runs
/// OpenBLAS on the calling thread only (`BLASSetup.useEngineThreads`) and never wakes that pool, so the
/// daemon stops it, exactly as OpenBLAS does itself before a `fork` (its `pthread_atfork` handler,
/// `blas_thread_shutdown_`). Looked up at run time: the function is exported but not in the headers.
enum OpenBLASLoadTimeThreads {
    static func stop() {
        guard let symbol = dlsym(nil, "blas_thread_shutdown_") else { return }
        _ = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)()
    }
}
