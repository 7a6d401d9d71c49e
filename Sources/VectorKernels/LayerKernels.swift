// The engine's elementwise and per-row passes, as bulk functions over plain Float buffers (shapes in the
// comments, as in Sources/GPT/Layers.swift, which splits them across threads and calls them). This module is
// compiled once per instruction-set tier — the same files, under VectorKernels, VectorKernelsAVX2 and
// VectorKernelsAVX512 — and GPT's ElementwiseKernels picks the widest tier the CPU has at startup.

private let geluScale: Float = 0.797_884_560_802_865_4  // √(2/π)

/// GELU (tanh approximation, GPT-2's gelu_new) of 16 lanes: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
@inline(__always) private func gelu16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let u: SIMD16<Float> = geluScale * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1 + fastTanh(u))
}

/// gelu'(x) on 16 lanes.
@inline(__always) private func geluDerivative16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let th = fastTanh(geluScale * (x + 0.044715 * x * x * x))
    let sech2: SIMD16<Float> = 1 - th * th
    let du: SIMD16<Float> = geluScale * (1 + 3 * 0.044715 * x * x)   // d(√(2/π)·(x + 0.044715·x³))/dx
    return 0.5 * (1 + th) + 0.5 * x * sech2 * du
}

/// out[n] = gelu(inp[n]) for n < count (out may be inp).
public func gelu(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count { store16(gelu16(load16(inp + i)), out + i); i += 16 }
    if i < count { storePartial(gelu16(loadPartial(inp + i, count - i)), out + i, count - i) }
}

/// x[n] += bias[n], then out[n] = gelu(x[n]), for n < count: a linear layer's bias and the GELU after it in one
/// pass (out may be x, which then ends as gelu(x + bias)).
public func biasGelu(_ out: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, count: Int) {
    let keep = out != x
    var i = 0
    while i + 16 <= count {
        let v = load16(x + i) + load16(bias + i)
        if keep { store16(v, x + i) }
        store16(gelu16(v), out + i)
        i += 16
    }
    if i < count {
        let n = count - i
        let v = loadPartial(x + i, n) + loadPartial(bias + i, n)
        if keep { storePartial(v, x + i, n) }
        storePartial(gelu16(v), out + i, n)
    }
}

/// dinp[n] += gelu'(inp[n])·dout[n] for n < count.
public func geluBackward(_ dinp: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ dout: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
        store16(load16(dinp + i) + geluDerivative16(load16(inp + i)) * load16(dout + i), dinp + i)
        i += 16
    }
    if i < count {
        let n = count - i
        storePartial(loadPartial(dinp + i, n) + geluDerivative16(loadPartial(inp + i, n)) * loadPartial(dout + i, n), dinp + i, n)
    }
}

/// For each row n in rows: out[n,C] = (inp[n] − mean)·rstd·weight + bias; keeps mean[n], rstd[n].
public func layernormRows(_ out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                          _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                          rows: Range<Int>, C: Int, eps: Float) {
    for n in rows {
        let x = inp + n * C, o = out + n * C
        let m = vsum(x, C) / Float(C)
        let s = 1 / (vsumSquaredDeviations(x, C, from: m) / Float(C) + eps).squareRoot()
        var c = 0
        while c + 16 <= C { store16((load16(x + c) - m) * s * load16(weight + c) + load16(bias + c), o + c); c += 16 }
        while c < C { o[c] = (x[c] - m) * s * weight[c] + bias[c]; c += 1 }
        mean[n] = m
        rstd[n] = s
    }
}

/// For each row n in rows: dinp[n,C] += LayerNorm's input gradient; dweight[C] += (x − m)·rstd·dout and
/// dbias[C] += dout when given (the caller's per-thread accumulators).
public func layernormBackwardRows(_ dinp: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                                  _ dbias: UnsafeMutablePointer<Float>?, _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>,
                                  _ weight: UnsafePointer<Float>, _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                                  rows: Range<Int>, C: Int) {
    for n in rows {
        let x = inp + n * C, d = dout + n * C, di = dinp + n * C
        let m = mean[n], s = rstd[n]
        // dnorm = weight·d and norm = (x − m)·s; the input gradient needs Σ dnorm / C and Σ dnorm·norm / C.
        var a1 = SIMD16<Float>(), a2 = SIMD16<Float>()
        var c = 0
        while c + 16 <= C {
            let wd = load16(weight + c) * load16(d + c)
            a1 += wd
            a2 += wd * (load16(x + c) - m)
            c += 16
        }
        var s1 = a1.sum(), s2 = a2.sum()
        while c < C { let wd = weight[c] * d[c]; s1 += wd; s2 += wd * (x[c] - m); c += 1 }
        let dnormMean = s1 / Float(C), dnormNormMean = s2 * s / Float(C)
        c = 0
        while c + 16 <= C {
            let norm = (load16(x + c) - m) * s, dout16 = load16(d + c)
            let dnorm = load16(weight + c) * dout16
            store16(load16(di + c) + (dnorm - dnormMean - norm * dnormNormMean) * s, di + c)
            if let dweight { store16(load16(dweight + c) + norm * dout16, dweight + c) }
            if let dbias { store16(load16(dbias + c) + dout16, dbias + c) }
            c += 16
        }
        while c < C {
            let norm = (x[c] - m) * s, dnorm = weight[c] * d[c]
            di[c] += (dnorm - dnormMean - norm * dnormNormMean) * s
            dweight?[c] += norm * d[c]
            dbias?[c] += d[c]
            c += 1
        }
    }
}

/// Causal softmax of rows of a score matrix with row stride T: row i becomes softmax(row[0...i]) followed by
/// zeros up to column zeroTo (the end of the block of keys the caller multiplies with; later columns untouched).
public func causalSoftmaxRows(_ scores: UnsafeMutablePointer<Float>, T: Int, rows: Range<Int>, zeroTo: Int) {
    for i in rows {
        let row = scores + i * T
        softmaxInPlace(row, i + 1)
        if zeroTo > i + 1 { (row + i + 1).update(repeating: 0, count: zeroTo - i - 1) }
    }
}

/// Softmax backward of causal rows (row stride T): grad[i, j] = att[i, j]·(grad[i, j] − Σ_k att[i, k]·grad[i, k])
/// over j ≤ i, then zeros for i < j < zeroTo.
public func causalSoftmaxBackwardRows(_ grad: UnsafeMutablePointer<Float>, _ att: UnsafePointer<Float>, T: Int,
                                      rows: Range<Int>, zeroTo: Int) {
    for i in rows {
        let p = att + i * T, r = grad + i * T
        let n = i + 1
        let dot = vdot(p, r, n)
        var j = 0
        while j + 16 <= n { store16(load16(p + j) * (load16(r + j) - dot), r + j); j += 16 }
        while j < n { r[j] = p[j] * (r[j] - dot); j += 1 }
        if zeroTo > n { (r + n).update(repeating: 0, count: zeroTo - n) }
    }
}

/// One AdamW step over count parameters: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
/// p −= stepSize·m / (√(v·vScale) + ε) + lr·wd·p, where stepSize = lr / (1 − β1^t) and vScale = 1 / (1 − β2^t).
public func adamwUpdate(values: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
                        beta1 b1: Float, beta2 b2: Float, epsilon eps: Float, stepSize: Float, vScale: Float,
                        decay: Float) {
    var i = 0
    while i + 16 <= count {
        let g = load16(gradients + i)
        let m16 = b1 * load16(m + i) + (1 - b1) * g
        let v16 = b2 * load16(v + i) + (1 - b2) * g * g
        var p = load16(values + i)
        p -= stepSize * m16 / (fastSquareRoot(v16 * vScale) + eps) + decay * p
        store16(m16, m + i); store16(v16, v + i); store16(p, values + i)
        i += 16
    }
    while i < count {
        let g = gradients[i]
        m[i] = b1 * m[i] + (1 - b1) * g
        v[i] = b2 * v[i] + (1 - b2) * g * g
        values[i] -= stepSize * m[i] / ((v[i] * vScale).squareRoot() + eps) + decay * values[i]
        i += 1
    }
}
