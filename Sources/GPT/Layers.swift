import COpenBLAS
import Foundation

// The layers of GPT-2 as forward/backward pairs of plain functions over contiguous Float buffers,
// in the manner of llm.c's train_gpt2.c. Shapes are in the comments: N is the number of tokens of a
// packed batch (sequences back to back, no padding), C channels, NH heads, hs = C/NH, T a sequence's length.
// Backward functions ACCUMULATE into parameter gradients (dweight, dbias) and, unless said otherwise,
// into input gradients, so residual branches add up without extra buffers.

/// A batch of variable-length sequences packed back to back: sequence b owns rows starts[b] ..< starts[b] + lengths[b].
public struct PackedBatch: Sendable, Equatable {
    public let lengths: [Int]
    public let starts: [Int]
    /// N: the total number of tokens.
    public let tokenCount: Int
    /// Σ T_b²: the size of one head's attention matrices over the whole batch.
    public let attentionCount: Int

    public init(lengths: [Int]) {
        precondition(lengths.allSatisfy { $0 > 0 }, "empty sequence in batch")
        self.lengths = lengths
        var starts: [Int] = [], n = 0, a = 0
        for t in lengths { starts.append(n); n += t; a += t * t }
        self.starts = starts
        tokenCount = n
        attentionCount = a
    }

    /// Row index of each sequence's last token (the pooled position for classification).
    public var lastRows: [Int] { zip(starts, lengths).map { $0 + $1 - 1 } }
}

// MARK: - embeddings

/// out[N,C] = wte[token] + wpe[position in its sequence]
func encoderForward(_ out: UnsafeMutablePointer<Float>, _ tokens: UnsafePointer<Int32>, _ batch: PackedBatch,
                    _ wte: UnsafePointer<Float>, _ wpe: UnsafePointer<Float>, C: Int) {
    for (start, length) in zip(batch.starts, batch.lengths) {
        for t in 0..<length {
            let o = out + (start + t) * C, e = wte + Int(tokens[start + t]) * C, p = wpe + t * C
            for c in 0..<C { o[c] = e[c] + p[c] }
        }
    }
}

/// dwte[token] += dout, dwpe[position] += dout (either may be nil when frozen)
func encoderBackward(_ dwte: UnsafeMutablePointer<Float>?, _ dwpe: UnsafeMutablePointer<Float>?, _ dout: UnsafePointer<Float>,
                     _ tokens: UnsafePointer<Int32>, _ batch: PackedBatch, C: Int) {
    for (start, length) in zip(batch.starts, batch.lengths) {
        for t in 0..<length {
            let d = dout + (start + t) * C
            if let dwte { let g = dwte + Int(tokens[start + t]) * C; for c in 0..<C { g[c] += d[c] } }
            if let dwpe { let g = dwpe + t * C; for c in 0..<C { g[c] += d[c] } }
        }
    }
}

// MARK: - layer norm

/// out[N,C] = (inp - mean) * rstd * weight + bias, per row; keeps mean[N], rstd[N] for backward.
func layernormForward(_ out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                      _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                      N: Int, C: Int, eps: Float) {
    let kernels = ElementwiseKernels.best
    parallelChunks(N, minPerThread: 64) { rows in kernels.layernormRows(out, mean, rstd, inp, weight, bias, rows, C, eps) }
}

/// dinp[N,C] += ..., dweight[C] += ..., dbias[C] += ... (dweight/dbias nil when frozen)
func layernormBackward(_ dinp: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?, _ dbias: UnsafeMutablePointer<Float>?,
                       _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                       _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, N: Int, C: Int) {
    let kernels = ElementwiseKernels.best
    let lock = NSLock()
    parallelChunks(N, minPerThread: 32) { rows in
        // Each thread sums its rows' parameter gradients apart, then adds them in under the lock.
        var dw = [Float](repeating: 0, count: dweight == nil ? 0 : C)
        var db = [Float](repeating: 0, count: dbias == nil ? 0 : C)
        dw.withUnsafeMutableBufferPointer { dw in
            db.withUnsafeMutableBufferPointer { db in
                kernels.layernormBackwardRows(dinp, dw.baseAddress, db.baseAddress, dout, inp, weight, mean, rstd, rows, C)
            }
        }
        lock.lock(); defer { lock.unlock() }
        if let dweight { for c in 0..<C { dweight[c] += dw[c] } }
        if let dbias { for c in 0..<C { dbias[c] += db[c] } }
    }
}

// MARK: - linear (matmul)

/// out[N,OC] = inp[N,IC] · weight[IC,OC] + bias[OC]
func matmulForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                   _ bias: UnsafePointer<Float>?, N: Int, IC: Int, OC: Int) {
    guard let bias else { return gemm(M: N, N: OC, K: IC, inp, lda: IC, weight, ldb: OC, out, ldc: OC) }
    gemm(M: N, N: OC, K: IC, inp, lda: IC, weight, ldb: OC, beta: 1, out, ldc: OC) { cols in
        for n in 0..<N { (out + n * OC + cols.lowerBound).update(from: bias + cols.lowerBound, count: cols.count) }
    }
}

/// dinp[N,IC] += dout · weightᵀ; dweight[IC,OC] += inpᵀ · dout; dbias[OC] += Σ_n dout (each nil when not needed)
func matmulBackward(_ dinp: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?, _ dbias: UnsafeMutablePointer<Float>?,
                    _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                    N: Int, IC: Int, OC: Int) {
    if let dinp { gemm(transB: true, M: N, N: IC, K: OC, dout, lda: OC, weight, ldb: OC, beta: 1, dinp, ldc: IC) }
    if let dweight { gemm(transA: true, M: IC, N: OC, K: N, inp, lda: IC, dout, ldb: OC, beta: 1, dweight, ldc: OC) }
    if let dbias {
        for n in 0..<N { let d = dout + n * OC; for o in 0..<OC { dbias[o] += d[o] } }
    }
}

// MARK: - causal self-attention

/// One (sequence, head) pair of a batch: the unit of attention work.
private struct HeadItem {
    let start: Int    // first row of the sequence
    let T: Int        // its length
    let head: Int
    let att: Int      // offset of its T×T probabilities in the att buffer
}

/// Runs body(item, thread) for every (sequence, head) pair, the pairs dealt round-robin to the kernel threads.
private func forEachHead(_ batch: PackedBatch, NH: Int, _ body: (HeadItem, Int) -> Void) {
    var items: [HeadItem] = []
    var offset = 0
    for (start, T) in zip(batch.starts, batch.lengths) {
        for h in 0..<NH { items.append(HeadItem(start: start, T: T, head: h, att: offset)); offset += T * T }
    }
    // Longest first, so the round-robin deal stays balanced.
    items.sort { $0.T > $1.T }
    let work = items
    let threads = min(Kernels.threads, items.count)
    if threads == 1 { for item in work { body(item, 0) }; return }
    Kernels.fanOut(threads) { t in
        for i in stride(from: t, to: work.count, by: threads) { body(work[i], t) }
    }
}

/// Rows of queries per attention step. Keys after a block's last row are masked for all of its rows, so
/// scoring block by block skips most of the masked half of q·kᵀ (and of att·v) while each GEMM stays large
/// enough to run at speed.
let attentionRowBlock = 64

/// qkv[N,3C] holds q|k|v per token (head h at columns h·hs ..< (h+1)·hs of each third).
/// att[NH·Σ T_b²] keeps each pair's softmax probabilities for backward (row i of a row block: columns 0...i,
/// then zeros up to the block's last row; columns past it are never read, so left unset); with
/// `scratchPerThread` (inference) each kernel thread scores its pairs in att[thread·scratchPerThread…] instead.
/// out[N,C] = softmax(q·kᵀ/√hs + causal mask) · v, heads side by side.
func attentionForward(_ out: UnsafeMutablePointer<Float>, _ att: UnsafeMutablePointer<Float>, _ qkv: UnsafePointer<Float>,
                      _ batch: PackedBatch, NH: Int, C: Int, scratchPerThread: Int? = nil) {
    let hs = C / NH, C3 = 3 * C
    let scale = 1 / Float(hs).squareRoot()
    let kernels = ElementwiseKernels.best
    forEachHead(batch, NH: NH) { item, thread in
        let T = item.T, a = att + (scratchPerThread.map { thread * $0 } ?? item.att)
        let q = qkv + item.start * C3 + item.head * hs, k = q + C, v = q + 2 * C
        for r0 in stride(from: 0, to: T, by: attentionRowBlock) {
            let r1 = min(T, r0 + attentionRowBlock), rows = r1 - r0
            // scores[r0..<r1, 0..<r1] = scale · q[r0..<r1,hs] · k[0..<r1,hs]ᵀ
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(r1), Int32(hs),
                        scale, q + r0 * C3, Int32(C3), k, Int32(C3), 0, a + r0 * T, Int32(T))
            // Row i keeps columns 0...i: softmax over them, zeros after up to the block's last key.
            kernels.causalSoftmaxRows(a, T, r0..<r1, r1)
            // out[r0..<r1, hs] = att[r0..<r1, 0..<r1] · v[0..<r1, hs]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(hs), Int32(r1),
                        1, a + r0 * T, Int32(T), v, Int32(C3), 0, out + (item.start + r0) * C + item.head * hs, Int32(C))
        }
    }
}

/// Floats of scratch `attentionBackward` needs: one T×T matrix per kernel thread.
func attentionBackwardScratchCount(maxLength T: Int) -> Int { Kernels.allThreads * T * T }

/// dqkv[N,3C] = gradient of the attention w.r.t. q|k|v (OVERWRITTEN: attention is qkv's only consumer).
/// scratch holds `attentionBackwardScratchCount` floats.
func attentionBackward(_ dqkv: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                       _ qkv: UnsafePointer<Float>, _ att: UnsafePointer<Float>, _ batch: PackedBatch, NH: Int, C: Int) {
    let hs = C / NH, C3 = 3 * C
    let scale = 1 / Float(hs).squareRoot()
    let maxT = batch.lengths.max() ?? 0
    let kernels = ElementwiseKernels.best
    forEachHead(batch, NH: NH) { item, thread in
        let T = item.T, a = att + item.att, g = scratch + thread * maxT * maxT
        let q = qkv + item.start * C3 + item.head * hs, k = q + C, v = q + 2 * C
        let dq = dqkv + item.start * C3 + item.head * hs, dk = dq + C, dv = dq + 2 * C
        let d = dout + item.start * C + item.head * hs
        // Row blocks as in the forward pass, last first: it reaches every key, so it sets dk and dv (beta 0)
        // and the blocks above it add to their leading rows.
        for r0 in stride(from: (T - 1) / attentionRowBlock * attentionRowBlock, through: 0, by: -attentionRowBlock) {
            let r1 = min(T, r0 + attentionRowBlock), rows = r1 - r0, beta: Float = r1 == T ? 0 : 1
            let ab = a + r0 * T, gb = g + r0 * T, db = d + r0 * C
            // datt[r0..<r1, 0..<r1] = dout[r0..<r1] · v[0..<r1]ᵀ ;  dv[0..<r1] += att[r0..<r1, 0..<r1]ᵀ · dout[r0..<r1]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(r1), Int32(hs),
                        1, db, Int32(C), v, Int32(C3), 0, gb, Int32(T))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(r1), Int32(hs), Int32(rows),
                        1, ab, Int32(T), db, Int32(C), beta, dv, Int32(C3))
            // softmax backward: dscores = att ⊙ (datt − Σ_j att·datt), per row over its columns 0...i
            kernels.causalSoftmaxBackwardRows(g, a, T, r0..<r1, r1)
            // dq[r0..<r1] = scale · dscores · k[0..<r1] ;  dk[0..<r1] += scale · dscoresᵀ · q[r0..<r1]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(hs), Int32(r1),
                        scale, gb, Int32(T), k, Int32(C3), 0, dq + r0 * C3, Int32(C3))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(r1), Int32(hs), Int32(rows),
                        scale, gb, Int32(T), q + r0 * C3, Int32(C3), beta, dk, Int32(C3))
        }
    }
}

// MARK: - GELU (tanh approximation, GPT-2's gelu_new)

/// out[n] = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (out may be inp)
func geluForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, count: Int) {
    let kernels = ElementwiseKernels.best
    parallelChunks(count, minPerThread: 1 << 14) { r in kernels.gelu(out + r.lowerBound, inp + r.lowerBound, r.count) }
}

/// dinp[n] += gelu'(x)·dout[n]
func geluBackward(_ dinp: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ dout: UnsafePointer<Float>, count: Int) {
    let kernels = ElementwiseKernels.best
    parallelChunks(count, minPerThread: 1 << 14) { r in
        kernels.geluBackward(dinp + r.lowerBound, inp + r.lowerBound, dout + r.lowerBound, r.count)
    }
}

// MARK: - residual

/// out = a + b
func residualForward(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = a[i] + b[i] }
}
