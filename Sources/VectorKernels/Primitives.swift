// Small vector primitives, 16 float lanes at a time. They are @inlinable so that each caller compiles them for
// its own instruction set: the bulk kernels of this module once per tier (see ElementwiseKernels in GPT), the
// engine's occasional uses (classifier head, pooled block, LM loss) for the baseline.
//
// Swift's generic SIMD conveniences hide scalar fallbacks: pointwiseMin/Max and clamped go lane by lane through
// memory, squareRoot() is 16 calls to sqrtf. The code here uses compares with replacing(with:where:) and plain
// arithmetic, which lower to vector instructions.

/// e^x for x in [-87, 88], relative error < 2e-7: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 series.
@inlinable @inline(__always) public func fastExp(_ x: Float) -> Float {
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
@inlinable @inline(__always) public func fastExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
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

/// tanh on 16 lanes as a 13/6-degree rational function (the approximation Eigen uses for float), error ~1e-7.
@inlinable @inline(__always) public func fastTanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let limit = SIMD16<Float>(repeating: 7.905_311_107_635_498)
    let x = x.replacing(with: limit, where: x .> limit).replacing(with: -limit, where: x .< -limit)
    let x2 = x * x
    var p = SIMD16<Float>(repeating: -2.760_768_477_423_55e-16)
    p = p * x2 + 2.000_187_904_824_77e-13
    p = p * x2 - 8.604_671_522_137_35e-11
    p = p * x2 + 5.122_297_090_371_14e-08
    p = p * x2 + 1.485_722_357_179_79e-05
    p = p * x2 + 6.372_619_288_754_36e-04
    p = p * x2 + 4.893_524_558_917_86e-03
    p = p * x
    var q = SIMD16<Float>(repeating: 1.198_258_394_667_02e-06)
    q = q * x2 + 1.185_347_056_866_54e-04
    q = q * x2 + 2.268_434_632_439_00e-03
    q = q * x2 + 4.893_525_185_543_85e-03
    return p / q
}

/// √x on 16 lanes for x ≥ 0, to float precision: x·(1/√x), with 1/√x from the bit-pattern estimate and three
/// Newton steps. (x = 0 gives 0; tiny x may come out smaller than √x.)
@inlinable @inline(__always) public func fastSquareRoot(_ x: SIMD16<Float>) -> SIMD16<Float> {
    var r = unsafeBitCast(SIMD16<UInt32>(repeating: 0x5F37_5A86) &- (unsafeBitCast(x, to: SIMD16<UInt32>.self) &>> 1), to: SIMD16<Float>.self)
    let half = 0.5 * x
    for _ in 0..<3 { r = r * (1.5 - half * r * r) }
    return x * r
}

@inlinable @inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inlinable @inline(__always) func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// p[0..<n] = softmax(p[0..<n]), in place, 16 lanes at a time.
@inlinable @inline(__always) public func softmaxInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = vmax(p, n)
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= n {
        let e = fastExp(load16(p + i) - m)
        store16(e, p + i)
        acc += e
        i += 16
    }
    var sum = acc.sum()
    while i < n { let e = fastExp(p[i] - m); p[i] = e; sum += e; i += 1 }
    let inv = 1 / sum
    i = 0
    while i + 16 <= n { store16(load16(p + i) * inv, p + i); i += 16 }
    while i < n { p[i] *= inv; i += 1 }
}

/// Sum of n floats with 16 independent lanes (Swift does not reassociate float adds on its own).
@inlinable @inline(__always) public func vsum(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= n { acc += load16(a + i); i += 16 }
    var s = acc.sum()
    while i < n { s += a[i]; i += 1 }
    return s
}

/// Σ (a[i] − m)² over n floats, 16 lanes.
@inlinable @inline(__always) public func vsumSquaredDeviations(_ a: UnsafePointer<Float>, _ n: Int, from m: Float) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= n { let d = load16(a + i) - m; acc += d * d; i += 16 }
    var s = acc.sum()
    while i < n { let d = a[i] - m; s += d * d; i += 1 }
    return s
}

/// Dot product of n floats, 16 lanes.
@inlinable @inline(__always) public func vdot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= n { acc += load16(a + i) * load16(b + i); i += 16 }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// Maximum of n ≥ 1 floats.
@inlinable @inline(__always) public func vmax(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = a[0]
    var i = 0
    if n >= 16 {
        var acc = load16(a)
        i = 16
        while i + 16 <= n {
            let x = load16(a + i)
            acc.replace(with: x, where: x .> acc)
            i += 16
        }
        m = acc.max()
    }
    while i < n { m = max(m, a[i]); i += 1 }
    return m
}

/// The first `lanes` (< 16) floats at p, zero-padded: how a pass's short tail goes through the vector body.
@inlinable @inline(__always) func loadPartial(_ p: UnsafePointer<Float>, _ lanes: Int) -> SIMD16<Float> {
    var v = SIMD16<Float>()
    for j in 0..<lanes { v[j] = p[j] }
    return v
}

@inlinable @inline(__always) func storePartial(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    for j in 0..<lanes { p[j] = v[j] }
}
