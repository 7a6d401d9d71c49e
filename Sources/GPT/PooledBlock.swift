import COpenBLAS
import Foundation

// The last block of a classifier, computed only where it matters. The head reads one position per sequence
// (its last), so in the final block only those B rows need a query, an attention output, a projection and
// an MLP; every row still needs its key and value. That leaves ~2C² of the block's ~12C² multiply-adds per
// token. Shapes: N tokens, B sequences (= pooled rows), C channels, NH heads, hs = C/NH.

/// Activations of the pooled last block, kept for its backward pass.
public struct PooledBlockActivations {
    public let ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>   // [N,C], [N], [N]
    public let kv: UnsafeMutablePointer<Float>                      // [N,2C]  k|v of every row
    public let q: UnsafeMutablePointer<Float>                       // [B,C]   queries of the pooled rows
    public let att: UnsafeMutablePointer<Float>                     // [NH·N]  per head, each sequence's T probabilities
    public let atty: UnsafeMutablePointer<Float>                    // [B,C]
    public let residual2: UnsafeMutablePointer<Float>               // [B,C]
    public let ln2, ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>   // [B,C], [B], [B]
    public let fch, fchGelu: UnsafeMutablePointer<Float>            // [B,4C]

    static func count(tokens N: Int, sequences B: Int, config: GPTConfig) -> Int {
        let C = config.channels
        return N * C + 2 * N + 2 * N * C + B * C + config.heads * N + 3 * B * C + 2 * B + 8 * B * C
    }

    init(_ base: UnsafeMutablePointer<Float>, tokens N: Int, sequences B: Int, config: GPTConfig) {
        let C = config.channels
        var p = base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { p += n }; return p }
        ln1 = take(N * C); ln1Mean = take(N); ln1Rstd = take(N)
        kv = take(2 * N * C); q = take(B * C)
        att = take(config.heads * N)
        atty = take(B * C); residual2 = take(B * C)
        ln2 = take(B * C); ln2Mean = take(B); ln2Rstd = take(B)
        fch = take(4 * B * C); fchGelu = take(4 * B * C)
    }
}

/// output[B,C] = the block's output at each sequence's last row, given input[N,C] (all rows).
public func pooledBlockForward(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ w: BlockTensors,
                               _ a: PooledBlockActivations, _ batch: PackedBatch, config: GPTConfig) {
    let N = batch.tokenCount, B = batch.lengths.count, C = config.channels, NH = config.heads, hs = C / NH
    let eps = config.layerNormEpsilon, rows = batch.lastRows
    layernormForward(a.ln1, a.ln1Mean, a.ln1Rstd, input, w.ln1w, w.ln1b, N: N, C: C, eps: eps)
    // k|v[N,2C] = ln1 · W[:, C..<3C] + b[C..<3C];  q[B,C] = ln1[pooled] · W[:, 0..<C] + b[0..<C]
    for n in 0..<N { (a.kv + n * 2 * C).update(from: w.qkvb + C, count: 2 * C) }
    gemm(M: N, N: 2 * C, K: C, a.ln1, lda: C, w.qkvw + C, ldb: 3 * C, beta: 1, a.kv, ldc: 2 * C)
    for (b, r) in rows.enumerated() {
        let qb = a.q + b * C
        qb.update(from: w.qkvb, count: C)
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(C), Int32(C), 1, w.qkvw, Int32(3 * C), a.ln1 + r * C, 1, 1, qb, 1)
    }
    // One query per (sequence, head) over all of that sequence's keys; no mask is needed for the last row.
    let scale = 1 / Float(hs).squareRoot()
    for (b, (start, T)) in zip(batch.starts, batch.lengths).enumerated() {
        for h in 0..<NH {
            let p = a.att + h * N + start, k = a.kv + start * 2 * C + h * hs, v = k + C
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(T), Int32(hs), scale, k, Int32(2 * C), a.q + b * C + h * hs, 1, 0, p, 1)
            let m = vmax(p, T)
            var sum: Float = 0
            for j in 0..<T { p[j] = fastExp(p[j] - m); sum += p[j] }
            let inv = 1 / sum
            for j in 0..<T { p[j] *= inv }
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(T), Int32(hs), 1, v, Int32(2 * C), p, 1, 0, a.atty + b * C + h * hs, 1)
        }
    }
    // The rest on the B pooled rows only.
    for (b, r) in rows.enumerated() { (a.residual2 + b * C).update(from: input + r * C, count: C) }
    matmulResidualForward(a.residual2, a.residual2, a.atty, w.attprojw, w.attprojb, N: B, IC: C, C: C)
    layernormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.residual2, w.ln2w, w.ln2b, N: B, C: C, eps: eps)
    matmulForward(a.fch, a.ln2, w.fcw, w.fcb, N: B, IC: C, OC: 4 * C)
    geluForward(a.fchGelu, a.fch, count: B * 4 * C)
    matmulResidualForward(output, a.residual2, a.fchGelu, w.fcprojw, w.fcprojb, N: B, IC: 4 * C, C: C)
}

/// Scratch for `pooledBlockBackward`.
struct PooledBlockGradScratch {
    let dres2, datty, dq, dln2: UnsafeMutablePointer<Float>   // [B,C] each
    let dfch, dfchGelu: UnsafeMutablePointer<Float>           // [B,4C]
    let dkv: UnsafeMutablePointer<Float>                      // [N,2C]
    let dln1: UnsafeMutablePointer<Float>                     // [N,C]
    let dp: UnsafeMutablePointer<Float>                       // [maxT]

    static func count(tokens N: Int, sequences B: Int, maxLength T: Int, C: Int) -> Int { 4 * B * C + 8 * B * C + 3 * N * C + T }

    init(_ base: UnsafeMutablePointer<Float>, tokens N: Int, sequences B: Int, C: Int) {
        var p = base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { p += n }; return p }
        dres2 = take(B * C); datty = take(B * C); dq = take(B * C); dln2 = take(B * C)
        dfch = take(4 * B * C); dfchGelu = take(4 * B * C)
        dkv = take(2 * N * C); dln1 = take(N * C)
        dp = p
    }
}

/// Backward of `pooledBlockForward`: dout[B,C] is the gradient w.r.t. its output; dinput[N,C] is OVERWRITTEN with
/// the gradient w.r.t. its input. Parameter gradients accumulate into `g`.
func pooledBlockBackward(_ dinput: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ g: BlockTensors,
                         _ input: UnsafePointer<Float>, _ w: BlockTensors, _ a: PooledBlockActivations,
                         _ s: PooledBlockGradScratch, _ batch: PackedBatch, config: GPTConfig) {
    let N = batch.tokenCount, B = batch.lengths.count, C = config.channels, NH = config.heads, hs = C / NH
    let rows = batch.lastRows
    // MLP on the pooled rows: dres2 = dout + the LN2 path.
    s.dres2.update(from: dout, count: B * C)
    s.dfchGelu.update(repeating: 0, count: B * 4 * C)
    matmulBackward(s.dfchGelu, g.fcprojw, g.fcprojb, dout, a.fchGelu, w.fcprojw, N: B, IC: 4 * C, OC: C)
    s.dfch.update(repeating: 0, count: B * 4 * C)
    geluBackward(s.dfch, a.fch, s.dfchGelu, count: B * 4 * C)
    s.dln2.update(repeating: 0, count: B * C)
    matmulBackward(s.dln2, g.fcw, g.fcb, s.dfch, a.ln2, w.fcw, N: B, IC: C, OC: 4 * C)
    layernormBackward(s.dres2, g.ln2w, g.ln2b, s.dln2, a.residual2, w.ln2w, a.ln2Mean, a.ln2Rstd, N: B, C: C)
    // Attention projection.
    s.datty.update(repeating: 0, count: B * C)
    matmulBackward(s.datty, g.attprojw, g.attprojb, s.dres2, a.atty, w.attprojw, N: B, IC: C, OC: C)
    // Single-query attention: dq for the pooled rows, dk|dv for every row.
    let scale = 1 / Float(hs).squareRoot()
    s.dkv.update(repeating: 0, count: N * 2 * C)
    for (b, (start, T)) in zip(batch.starts, batch.lengths).enumerated() {
        for h in 0..<NH {
            let p = a.att + h * N + start, k = a.kv + start * 2 * C + h * hs, v = k + C
            let dk = s.dkv + start * 2 * C + h * hs, dv = dk + C
            let dy = s.datty + b * C + h * hs, q = a.q + b * C + h * hs, dq = s.dq + b * C + h * hs
            // dp_j = dy·v_j ; dv_j = p_j·dy
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(T), Int32(hs), 1, v, Int32(2 * C), dy, 1, 0, s.dp, 1)
            cblas_sger(CblasRowMajor, Int32(T), Int32(hs), 1, p, 1, dy, 1, dv, Int32(2 * C))
            // ds_j = p_j·(dp_j − Σ p·dp), scaled
            let dot = vdot(p, s.dp, T)
            for j in 0..<T { s.dp[j] = scale * p[j] * (s.dp[j] - dot) }
            // dq = Σ_j ds_j k_j ; dk_j = ds_j q
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(T), Int32(hs), 1, k, Int32(2 * C), s.dp, 1, 0, dq, 1)
            cblas_sger(CblasRowMajor, Int32(T), Int32(hs), 1, s.dp, 1, q, 1, dk, Int32(2 * C))
        }
    }
    // qkv projection: dln1[N,C] = dkv · W[:,C..]ᵀ (+ dq · W[:,..C]ᵀ on pooled rows); weight and bias gradients.
    s.dln1.update(repeating: 0, count: N * C)
    gemm(transB: true, M: N, N: C, K: 2 * C, s.dkv, lda: 2 * C, w.qkvw + C, ldb: 3 * C, beta: 1, s.dln1, ldc: C)
    gemm(transA: true, M: C, N: 2 * C, K: N, a.ln1, lda: C, s.dkv, ldb: 2 * C, beta: 1, g.qkvw + C, ldc: 3 * C)
    for n in 0..<N { let d = s.dkv + n * 2 * C, gb = g.qkvb + C; for c in 0..<(2 * C) { gb[c] += d[c] } }
    for (b, r) in rows.enumerated() {
        let dq = s.dq + b * C
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(C), Int32(C), 1, w.qkvw, Int32(3 * C), dq, 1, 1, s.dln1 + r * C, 1)
        cblas_sger(CblasRowMajor, Int32(C), Int32(C), 1, a.ln1 + r * C, 1, dq, 1, g.qkvw, Int32(3 * C))
        for c in 0..<C { g.qkvb[c] += dq[c] }
    }
    // ln1 on every row, then the residual path of the pooled rows.
    dinput.update(repeating: 0, count: N * C)
    layernormBackward(dinput, g.ln1w, g.ln1b, s.dln1, input, w.ln1w, a.ln1Mean, a.ln1Rstd, N: N, C: C)
    for (b, r) in rows.enumerated() {
        let d = dinput + r * C, e = s.dres2 + b * C
        for c in 0..<C { d[c] += e[c] }
    }
}
