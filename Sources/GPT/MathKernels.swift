import COpenBLAS
import Dispatch

/// Runs body(chunk) for chunks of 0..<count on all cores when there is enough work to pay for it.
/// The hot elementwise passes use it; each chunk is a contiguous range so threads never share cache lines.
@inline(__always) func parallelChunks(_ count: Int, minPerThread: Int, _ body: (Range<Int>) -> Void) {
    let threads = min(Kernels.threads, max(1, count / max(minPerThread, 1)))
    if threads <= 1 { body(0..<count); return }
    let per = (count + threads - 1) / threads
    // The chunks touch disjoint ranges of the caller's buffers; the closure only lives for this call.
    Kernels.fanOut(threads) { t in
        let lo = t * per, hi = min(count, lo + per)
        if lo < hi { body(lo..<hi) }
    }
}

/// The engine's threading: every kernel, GEMMs included, is split across `threads` threads (the caller and
/// the `team`'s workers), and OpenBLAS runs each call on the thread it is made on. OpenBLAS's own pool
/// busy-waits for a while after every call, which on a 2-core machine steals a core from the elementwise
/// passes between GEMMs; the team does the same for all of them.
enum Kernels {
    static let allThreads: Int = {
        openblas_set_num_threads(1)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()

    /// The threads a kernel called on this thread splits its work across: 1 inside
    /// `BLASSetup.withKernelsOnCallingThread`, every core otherwise.
    static var threads: Int { callingThreadOnly.isSet ? 1 : allThreads }

    /// Set on a thread whose kernels must not fan out to other threads.
    static let callingThreadOnly = ThreadFlag()

    /// The workers kernels fan out to.
    static let team = KernelTeam(workers: allThreads - 1)

    /// Runs body(0..<threads) on the team (on Dispatch's workers while another thread's kernel holds it).
    static func fanOut(_ threads: Int, _ body: (Int) -> Void) {
        if threads <= 1 { for t in 0..<threads { body(t) }; return }
        if team.run(threads, body) { return }
        nonisolated(unsafe) let body = body  // the iterations touch disjoint ranges; the closure lives for this call
        DispatchQueue.concurrentPerform(iterations: threads) { body($0) }
    }

    /// Called before every matrix product on a thread that set it: a background trainer blocks there while
    /// more urgent work runs, so that it yields within a kernel's time rather than at the end of its step.
    static let yieldHook = ThreadHook()
}

/// A per-thread closure (a pthread key holding it): `call()` costs a few nanoseconds where none is set.
final class ThreadHook: Sendable {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        self.key = key
    }

    /// Sets `hook` on the calling thread for the duration of `body`.
    func with<R>(_ hook: @escaping () -> Void, _ body: () throws -> R) rethrows -> R {
        let box = Unmanaged.passRetained(Box(hook))
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, box.toOpaque())
        defer {
            pthread_setspecific(key, previous)
            box.release()
        }
        return try body()
    }

    /// Runs the calling thread's hook, if it has one.
    @inline(__always) func call() {
        guard let raw = pthread_getspecific(key) else { return }
        Unmanaged<Box>.fromOpaque(raw).takeUnretainedValue().body()
    }
}

/// A per-thread flag (a pthread key): kernels read it once per call, so it costs a few nanoseconds.
final class ThreadFlag: Sendable {
    private let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        self.key = key
    }

    var isSet: Bool { pthread_getspecific(key) != nil }

    /// Sets the flag on the calling thread for the duration of `body`.
    func with<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, previous) }
        return try body()
    }
}

/// Row-major C[M,N] = alpha·op(A)·op(B) + beta·C, split by columns of C across the kernel threads.
/// op(A) is [M,K], op(B) is [K,N]; lda/ldb/ldc are the row strides of the stored matrices.
/// `prologue(columns)` and `epilogue(columns)`, if given, run on the thread that computes those columns of C, just
/// before and just after it does: the places to fill C with what beta = 1 adds to (a bias, a residual), or to
/// finish its block (a bias and an activation), while that block is in the thread's cache.
func gemm(transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int, alpha: Float = 1,
          _ A: UnsafePointer<Float>, lda: Int, _ B: UnsafePointer<Float>, ldb: Int,
          beta: Float = 0, _ C: UnsafeMutablePointer<Float>, ldc: Int,
          prologue: ((Range<Int>) -> Void)? = nil, epilogue: ((Range<Int>) -> Void)? = nil) {
    Kernels.yieldHook.call()
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    // Below ~4 MFLOP, or when a half would be too thin for the kernel's register blocking, one thread wins.
    let threads = (2 * M * N * K < 4_000_000 || N < 128) ? 1 : Kernels.threads
    if threads == 1 {
        prologue?(0..<N)
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
        epilogue?(0..<N)
        return
    }
    let per = ((N + threads - 1) / threads + 15) / 16 * 16
    Kernels.fanOut(threads) { t in
        let lo = t * per, n = min(N, lo + per) - lo
        guard n > 0 else { return }
        prologue?(lo..<(lo + n))
        // Column block [lo, lo+n) of C needs columns lo.. of op(B): an offset along B's rows when B is transposed.
        let b = transB ? B + lo * ldb : B + lo
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(M), Int32(n), Int32(K), alpha, A, Int32(lda), b, Int32(ldb), beta, C + lo, Int32(ldc))
        epilogue?(lo..<(lo + n))
    }
}

#if canImport(Glibc)
import Glibc
#endif
