import COpenBLAS
import Foundation
import VectorKernels

// The last block of a classifier, computed only where it matters. The head reads one position per sequence
// (its last), so in the final block only those B rows need a query, an attention output, a projection and
// an MLP. Their attention never needs the other rows' keys and values either: with u_h = W_k,h · q_h,
//     score_j = q_h · (ln1_j W_k,h + b_k,h) / √hs  = (ln1_j · u_h) / √hs + const   (the constant cancels in softmax)
//     y_h     = Σ_j p_j (ln1_j W_v,h + b_v,h)       = (Σ_j p_j ln1_j) W_v,h + b_v,h     (Σ_j p_j = 1)
// so each (sequence, head) costs O(T·C) for its scores and its weighted sum of ln1 rows, plus O(C·hs) for u_h and
// y_h, instead of O(T·C·2C) for every row's key and value. The key bias gets no gradient (it never changes a
// probability). Shapes: N tokens, B sequences (= pooled rows), C channels, NH heads, hs = C/NH.

/// Activations of the pooled last block, kept for its backward pass.
public struct PooledBlockActivations {
    public let ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>   // [N,C], [N], [N]
    public let q: UnsafeMutablePointer<Float>                       // [B,C]     queries of the pooled rows
    public let u: UnsafeMutablePointer<Float>                       // [B,NH,C]  u_h = W_k,h · q_h
    public let z: UnsafeMutablePointer<Float>                       // [B,NH,C]  z_h = Σ_j p_j ln1_j
    public let att: UnsafeMutablePointer<Float>                     // [NH,N]    per head, each sequence's T probabilities
    public let atty: UnsafeMutablePointer<Float>                    // [B,C]
    public let residual2: UnsafeMutablePointer<Float>               // [B,C]
    public let ln2, ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>   // [B,C], [B], [B]
    public let fch, fchGelu: UnsafeMutablePointer<Float>            // [B,4C]

    static func count(tokens N: Int, sequences B: Int, config: GPTConfig) -> Int {
        let C = config.channels, NH = config.heads
        return N * C + 2 * N + B * C + 2 * B * NH * C + NH * N + 3 * B * C + 2 * B + 8 * B * C
    }

    init(_ base: UnsafeMutablePointer<Float>, tokens N: Int, sequences B: Int, config: GPTConfig) {
        let C = config.channels, NH = config.heads
        var p = base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { p += n }; return p }
        ln1 = take(N * C); ln1Mean = take(N); ln1Rstd = take(N)
        q = take(B * C); u = take(B * NH * C); z = take(B * NH * C)
        att = take(NH * N)
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
    let wq = w.qkvw, wk = w.qkvw + C, wv = w.qkvw + 2 * C, ldw = Int32(3 * C)
    layernormForward(a.ln1, a.ln1Mean, a.ln1Rstd, input, w.ln1w, w.ln1b, N: N, C: C, eps: eps)
    let scale = 1 / Float(hs).squareRoot()
    for (b, (start, T)) in zip(batch.starts, batch.lengths).enumerated() {
        let ln1 = a.ln1 + start * C, q = a.q + b * C, u = a.u + b * NH * C, z = a.z + b * NH * C, p = a.att + start
        // q[C] = ln1[last] · W_q + b_q;  u_h[C] = W_k,h[C,hs] · q_h
        q.update(from: w.qkvb, count: C)
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(C), Int32(C), 1, wq, ldw, a.ln1 + rows[b] * C, 1, 1, q, 1)
        for h in 0..<NH {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(C), Int32(hs), 1, wk + h * hs, ldw, q + h * hs, 1, 0, u + h * C, 1)
        }
        // scores[NH,T] = u[NH,C] · ln1[T,C]ᵀ / √hs, softmax per head (the last row sees every row: no mask).
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(NH), Int32(T), Int32(C), scale, u, Int32(C),
                    ln1, Int32(C), 0, p, Int32(N))
        for h in 0..<NH { softmaxInPlace(p + h * N, T) }
        // z[NH,C] = p[NH,T] · ln1[T,C];  atty_h[hs] = z_h · W_v,h + b_v,h
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(NH), Int32(C), Int32(T), 1, p, Int32(N),
                    ln1, Int32(C), 0, z, Int32(C))
        let y = a.atty + b * C
        y.update(from: w.qkvb + 2 * C, count: C)
        for h in 0..<NH {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(C), Int32(hs), 1, wv + h * hs, ldw, z + h * C, 1, 1, y + h * hs, 1)
        }
    }
    // The rest on the B pooled rows only.
    for (b, r) in rows.enumerated() { (a.residual2 + b * C).update(from: input + r * C, count: C) }
    matmulResidualForward(a.residual2, a.residual2, a.atty, w.attprojw, w.attprojb, N: B, IC: C, C: C)
    mlpForward(output, a.residual2, w, ln2: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, fch: a.fch, fchGelu: a.fchGelu, N: B, C: C, eps: eps)
}

/// Scratch for `pooledBlockBackward`.
struct PooledBlockGradScratch {
    let dres2, datty, dq, dln2: UnsafeMutablePointer<Float>   // [B,C] each
    let dfch, dfchGelu: UnsafeMutablePointer<Float>           // [B,4C]
    let dz, du: UnsafeMutablePointer<Float>                   // [NH,C] each, one sequence at a time
    let dln1: UnsafeMutablePointer<Float>                     // [N,C]
    let dp: UnsafeMutablePointer<Float>                       // [NH,maxT]

    static func count(tokens N: Int, sequences B: Int, maxLength T: Int, config: GPTConfig) -> Int {
        let C = config.channels, NH = config.heads
        return 4 * B * C + 8 * B * C + 2 * NH * C + N * C + NH * T
    }

    init(_ base: UnsafeMutablePointer<Float>, tokens N: Int, sequences B: Int, config: GPTConfig) {
        let C = config.channels, NH = config.heads
        var p = base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { p += n }; return p }
        dres2 = take(B * C); datty = take(B * C); dq = take(B * C); dln2 = take(B * C)
        dfch = take(4 * B * C); dfchGelu = take(4 * B * C)
        dz = take(NH * C); du = take(NH * C)
        dln1 = take(N * C)
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
    let wq = w.qkvw, wk = w.qkvw + C, wv = w.qkvw + 2 * C, ldw = Int32(3 * C)
    let gwq = g.qkvw, gwk = g.qkvw + C, gwv = g.qkvw + 2 * C
    // MLP on the pooled rows: dres2 = dout + the LN2 path.
    s.dres2.update(from: dout, count: B * C)
    mlpBackward(s.dres2, g, w, x: a.residual2, ln2: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, fch: a.fch, fchGelu: a.fchGelu,
                dln2: s.dln2, dfch: s.dfch, dfchGelu: s.dfchGelu, N: B, C: C)
    // Attention projection.
    s.datty.update(repeating: 0, count: B * C)
    matmulBackward(s.datty, g.attprojw, g.attprojb, s.dres2, a.atty, w.attprojw, N: B, IC: C, OC: C)
    // Attention, one sequence at a time, through z and u (see the top of the file).
    let scale = 1 / Float(hs).squareRoot()
    s.dln1.update(repeating: 0, count: N * C)
    for (b, (start, T)) in zip(batch.starts, batch.lengths).enumerated() {
        let ln1 = a.ln1 + start * C, dln1 = s.dln1 + start * C, p = a.att + start
        let q = a.q + b * C, u = a.u + b * NH * C, z = a.z + b * NH * C, dy = s.datty + b * C, dq = s.dq + b * C
        for h in 0..<NH {
            // atty_h = z_h · W_v,h + b_v,h:  dz_h = W_v,h · dy_h;  dW_v,h += z_h ⊗ dy_h;  db_v,h += dy_h
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(C), Int32(hs), 1, wv + h * hs, ldw, dy + h * hs, 1, 0, s.dz + h * C, 1)
            cblas_sger(CblasRowMajor, Int32(C), Int32(hs), 1, z + h * C, 1, dy + h * hs, 1, gwv + h * hs, ldw)
            for i in 0..<hs { g.qkvb[2 * C + h * hs + i] += dy[h * hs + i] }
        }
        // dp[NH,T] = dz[NH,C] · ln1[T,C]ᵀ;  ds = p ⊙ (dp − Σ p·dp) / √hs
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(NH), Int32(T), Int32(C), 1, s.dz, Int32(C),
                    ln1, Int32(C), 0, s.dp, Int32(T))
        for h in 0..<NH {
            let ph = p + h * N, ds = s.dp + h * T
            let dot = vdot(ph, ds, T)
            for j in 0..<T { ds[j] = scale * ph[j] * (ds[j] - dot) }
        }
        // dln1[T,C] += pᵀ[T,NH] · dz[NH,C] + dsᵀ[T,NH] · u[NH,C];  du[NH,C] = ds[NH,T] · ln1[T,C]
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(T), Int32(C), Int32(NH), 1, p, Int32(N),
                    s.dz, Int32(C), 1, dln1, Int32(C))
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(T), Int32(C), Int32(NH), 1, s.dp, Int32(T),
                    u, Int32(C), 1, dln1, Int32(C))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(NH), Int32(C), Int32(T), 1, s.dp, Int32(T),
                    ln1, Int32(C), 0, s.du, Int32(C))
        for h in 0..<NH {
            // u_h = W_k,h · q_h:  dW_k,h += du_h ⊗ q_h;  dq_h = W_k,hᵀ · du_h
            cblas_sger(CblasRowMajor, Int32(C), Int32(hs), 1, s.du + h * C, 1, q + h * hs, 1, gwk + h * hs, ldw)
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(C), Int32(hs), 1, wk + h * hs, ldw, s.du + h * C, 1, 0, dq + h * hs, 1)
        }
        // q = ln1[last] · W_q + b_q
        let r = rows[b]
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(C), Int32(C), 1, wq, ldw, dq, 1, 1, s.dln1 + r * C, 1)
        cblas_sger(CblasRowMajor, Int32(C), Int32(C), 1, a.ln1 + r * C, 1, dq, 1, gwq, ldw)
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
