import COpenBLAS
import Dispatch

// Elementwise kernels the compiler can vectorize: no calls into libm in the hot loops.

/// e^x for x in [-87, 88], relative error < 2e-7: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 series.
@inline(__always) func fastExp(_ x: Float) -> Float {
    let x = min(max(x, -87.0), 88.0)
    let t = x * 1.442_695_04
    let n = (t + 12_582_912.0) - 12_582_912.0          // round to nearest via 1.5·2^23
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6  // ln2 split in two for precision
    var p: Float = 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * Float(bitPattern: UInt32(bitPattern: (Int32(n) + 127) << 23))
}

/// `fastExp` on 16 lanes at once: the same steps, with 2^n built from the rounding constant's low bits.
@inline(__always) func fastExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // clamped(lowerBound:upperBound:) and pointwiseMin/Max go lane by lane through memory; comparisons and
    // replacing(with:where:) compile to vector compares and blends.
    let lo = SIMD16<Float>(repeating: -87.0), hi = SIMD16<Float>(repeating: 88.0)
    let x = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
    let k = x * 1.442_695_04 + 12_582_912.0              // 1.5·2^23 + n: n sits in the low mantissa bits
    let n = k - 12_582_912.0
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6
    var p = SIMD16<Float>(repeating: 1.0 / 720.0)
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    let exponent = (unsafeBitCast(k, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return p * unsafeBitCast(exponent, to: SIMD16<Float>.self)
}

/// p[0..<n] = softmax(p[0..<n]), in place, 16 lanes at a time.
@inline(__always) func softmaxInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = vmax(p, n)
    let raw = UnsafeMutableRawPointer(p)
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= n {
        let e = fastExp(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m)
        raw.storeBytes(of: e, toByteOffset: i * 4, as: SIMD16<Float>.self)
        acc += e
        i += 16
    }
    var sum = acc.sum()
    while i < n { let e = fastExp(p[i] - m); p[i] = e; sum += e; i += 1 }
    let inv = 1 / sum
    i = 0
    while i + 16 <= n {
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * inv, toByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { p[i] *= inv; i += 1 }
}

/// tanh(x) as a 13/6-degree rational function (the approximation Eigen uses for float), error ~1e-7.
@inline(__always) func fastTanh(_ x: Float) -> Float {
    let x = min(max(x, -7.905_311_107_635_498), 7.905_311_107_635_498)
    let x2 = x * x
    var p: Float = -2.760_768_477_423_55e-16
    p = p * x2 + 2.000_187_904_824_77e-13
    p = p * x2 - 8.604_671_522_137_35e-11
    p = p * x2 + 5.122_297_090_371_14e-08
    p = p * x2 + 1.485_722_357_179_79e-05
    p = p * x2 + 6.372_619_288_754_36e-04
    p = p * x2 + 4.893_524_558_917_86e-03
    p = p * x
    var q: Float = 1.198_258_394_667_02e-06
    q = q * x2 + 1.185_347_056_866_54e-04
    q = q * x2 + 2.268_434_632_439_00e-03
    q = q * x2 + 4.893_525_185_543_85e-03
    return p / q
}

/// Sum of n floats with 16 independent lanes (Swift does not reassociate float adds on its own).
@inline(__always) func vsum(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(a)
    while i + 16 <= n { acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self); i += 16 }
    var s = acc.sum()
    while i < n { s += a[i]; i += 1 }
    return s
}

/// Σ (a[i] − m)² over n floats, 16 lanes.
@inline(__always) func vsumSquaredDeviations(_ a: UnsafePointer<Float>, _ n: Int, from m: Float) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(a)
    while i + 16 <= n { let d = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m; acc += d * d; i += 16 }
    var s = acc.sum()
    while i < n { let d = a[i] - m; s += d * d; i += 1 }
    return s
}

/// (Σ w[i]·d[i], Σ w[i]·d[i]·(x[i] − m)) over n floats, 16 lanes: the two sums of LayerNorm's backward.
@inline(__always) func layernormGradientSums(_ w: UnsafePointer<Float>, _ d: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                             _ n: Int, mean m: Float) -> (Float, Float) {
    var a1 = SIMD16<Float>(), a2 = SIMD16<Float>()
    var i = 0
    let rw = UnsafeRawPointer(w), rd = UnsafeRawPointer(d), rx = UnsafeRawPointer(x)
    while i + 16 <= n {
        let wd = rw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * rd.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        a1 += wd
        a2 += wd * (rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m)
        i += 16
    }
    var s1 = a1.sum(), s2 = a2.sum()
    while i < n { let wd = w[i] * d[i]; s1 += wd; s2 += wd * (x[i] - m); i += 1 }
    return (s1, s2)
}

/// Dot product of n floats, 16 lanes.
@inline(__always) func vdot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 16 <= n {
        acc += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// Maximum of n ≥ 1 floats.
@inline(__always) func vmax(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = a[0]
    var i = 0
    if n >= 16 {
        var acc = UnsafeRawPointer(a).loadUnaligned(as: SIMD16<Float>.self)
        i = 16
        while i + 16 <= n {
            let x = UnsafeRawPointer(a).loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            acc.replace(with: x, where: x .> acc)  // pointwiseMax goes lane by lane through memory
            i += 16
        }
        m = acc.max()
    }
    while i < n { m = max(m, a[i]); i += 1 }
    return m
}

/// Runs body(chunk) for chunks of 0..<count on all cores when there is enough work to pay for it.
/// The hot elementwise passes use it; each chunk is a contiguous range so threads never share cache lines.
@inline(__always) func parallelChunks(_ count: Int, minPerThread: Int, _ body: (Range<Int>) -> Void) {
    let threads = min(Kernels.threads, max(1, count / max(minPerThread, 1)))
    if threads <= 1 { body(0..<count); return }
    let per = (count + threads - 1) / threads
    // The chunks touch disjoint ranges of the caller's buffers; the closure only lives for this call.
    nonisolated(unsafe) let body = body
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        let lo = t * per, hi = min(count, lo + per)
        if lo < hi { body(lo..<hi) }
    }
}

/// The engine's threading: every kernel, GEMMs included, is split across `threads` Dispatch workers, and
/// OpenBLAS runs each call on the calling thread. OpenBLAS's own pool busy-waits for a while after every
/// call, which on a 2-core machine steals a core from the elementwise passes between GEMMs.
enum Kernels {
    static let allThreads: Int = {
        openblas_set_num_threads(1)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()

    /// The threads a kernel called on this thread splits its work across: 1 inside
    /// `BLASSetup.withKernelsOnCallingThread`, every core otherwise.
    static var threads: Int { callingThreadOnly.isSet ? 1 : allThreads }

    /// Set on a thread whose kernels must not fan out to Dispatch workers.
    static let callingThreadOnly = ThreadFlag()

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
func gemm(transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int, alpha: Float = 1,
          _ A: UnsafePointer<Float>, lda: Int, _ B: UnsafePointer<Float>, ldb: Int,
          beta: Float = 0, _ C: UnsafeMutablePointer<Float>, ldc: Int) {
    Kernels.yieldHook.call()
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    // Below ~4 MFLOP, or when a half would be too thin for the kernel's register blocking, one thread wins.
    let threads = (2 * M * N * K < 4_000_000 || N < 128) ? 1 : Kernels.threads
    if threads == 1 {
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
        return
    }
    let per = ((N + threads - 1) / threads + 15) / 16 * 16
    nonisolated(unsafe) let (A, B, C) = (A, B, C)
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        let lo = t * per, n = min(N, lo + per) - lo
        guard n > 0 else { return }
        // Column block [lo, lo+n) of C needs columns lo.. of op(B): an offset along B's rows when B is transposed.
        let b = transB ? B + lo * ldb : B + lo
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(M), Int32(n), Int32(K), alpha, A, Int32(lda), b, Int32(ldb), beta, C + lo, Int32(ldc))
    }
}

#if canImport(Glibc)
import Glibc
#endif
