import COpenBLAS
import Foundation
import VectorKernels

/// One block's activations for a packed batch of N tokens. For training (`keep`), everything its backward
/// pass reads, one set per trainable block. For inference, one set all blocks share, and only what the
/// forward pass needs at once: LN2 reuses LN1's rows, GELU runs in place, and each kernel thread scores its
/// (sequence, head) pairs in a T×T scratch of its own instead of keeping NH·Σ T² probabilities.
public struct BlockActivations {
    public let ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>   // [N,C], [N], [N]
    public let qkv: UnsafeMutablePointer<Float>                     // [N,3C]
    public let att: UnsafeMutablePointer<Float>                     // keep: [NH·Σ T²]; else [threads·maxT²]
    public let atty: UnsafeMutablePointer<Float>                    // [N,C]
    public let residual2: UnsafeMutablePointer<Float>               // [N,C]  input + attention branch
    public let ln2, ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>   // [N,C], [N], [N]   (inference: = ln1)
    public let fch, fchGelu: UnsafeMutablePointer<Float>            // [N,4C]             (inference: fchGelu = fch)
    /// Inference: floats of `att` each kernel thread scores in (maxT²); nil when every pair keeps its probabilities.
    public let attentionScratchPerThread: Int?

    static func count(_ batch: PackedBatch, config: GPTConfig, keep: Bool) -> Int {
        let C = config.channels, N = batch.tokenCount
        if keep { return N * C * 4 + 4 * N + N * 3 * C + config.heads * batch.attentionCount + 2 * N * 4 * C }
        let maxT = batch.lengths.max() ?? 0
        return N * C * 3 + 2 * N + N * 3 * C + Kernels.allThreads * maxT * maxT + N * 4 * C
    }

    init(_ base: UnsafeMutablePointer<Float>, _ batch: PackedBatch, config: GPTConfig, keep: Bool) {
        let C = config.channels, N = batch.tokenCount
        var q = base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { q += n }; return q }
        ln1 = take(N * C); ln1Mean = take(N); ln1Rstd = take(N)
        qkv = take(N * 3 * C)
        if keep {
            att = take(config.heads * batch.attentionCount)
            attentionScratchPerThread = nil
        } else {
            let maxT = batch.lengths.max() ?? 0
            att = take(Kernels.allThreads * maxT * maxT)
            attentionScratchPerThread = maxT * maxT
        }
        atty = take(N * C)
        residual2 = take(N * C)
        if keep {
            ln2 = take(N * C); ln2Mean = take(N); ln2Rstd = take(N)
            fch = take(N * 4 * C); fchGelu = take(N * 4 * C)
        } else {
            ln2 = ln1; ln2Mean = ln1Mean; ln2Rstd = ln1Rstd
            fch = take(N * 4 * C); fchGelu = fch
        }
    }
}

/// out[N,C] = residual[N,C] + inp[N,IC] · weight[IC,C] + bias[C]   (a linear layer on a residual branch)
func matmulResidualForward(_ out: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>, _ inp: UnsafePointer<Float>,
                           _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, N: Int, IC: Int, C: Int) {
    gemm(M: N, N: C, K: IC, inp, lda: IC, weight, ldb: C, beta: 1, out, ldc: C) { cols in
        for n in 0..<N {
            let o = out + n * C, r = residual + n * C
            for c in cols { o[c] = r[c] + bias[c] }
        }
    }
}

/// One transformer block: output = x + MLP(LN2(x + Attn(LN1(x)))) with x = input. input and output are [N,C].
public func blockForward(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ w: BlockTensors,
                         _ a: BlockActivations, _ batch: PackedBatch, config: GPTConfig) {
    let N = batch.tokenCount, C = config.channels, eps = config.layerNormEpsilon
    layernormForward(a.ln1, a.ln1Mean, a.ln1Rstd, input, w.ln1w, w.ln1b, N: N, C: C, eps: eps)
    matmulForward(a.qkv, a.ln1, w.qkvw, w.qkvb, N: N, IC: C, OC: 3 * C)
    attentionForward(a.atty, a.att, a.qkv, batch, NH: config.heads, C: C, scratchPerThread: a.attentionScratchPerThread)
    matmulResidualForward(a.residual2, input, a.atty, w.attprojw, w.attprojb, N: N, IC: C, C: C)
    mlpForward(output, a.residual2, w, ln2: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, fch: a.fch, fchGelu: a.fchGelu, N: N, C: C, eps: eps)
}

/// The MLP half of a block on N rows: output[N,C] = x + fcproj(gelu(fc(ln2(x)))), keeping ln2 [N,C], its mean/rstd [N],
/// fch and fchGelu [N,4C] for backward.
func mlpForward(_ output: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: BlockTensors,
                ln2: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                fch: UnsafeMutablePointer<Float>, fchGelu: UnsafeMutablePointer<Float>, N: Int, C: Int, eps: Float) {
    layernormForward(ln2, mean, rstd, x, w.ln2w, w.ln2b, N: N, C: C, eps: eps)
    // fch = ln2 · W_fc; then each thread adds the bias to its columns and applies GELU while they are in its cache.
    let kernels = ElementwiseKernels.best, C4 = 4 * C
    gemm(M: N, N: C4, K: C, ln2, lda: C, w.fcw, ldb: C4, fch, ldc: C4, epilogue: { cols in
        for n in 0..<N {
            let offset = n * C4 + cols.lowerBound
            kernels.biasGelu(fchGelu + offset, fch + offset, w.fcb + cols.lowerBound, cols.count)
        }
    })
    matmulResidualForward(output, x, fchGelu, w.fcprojw, w.fcprojb, N: N, IC: 4 * C, C: C)
}

/// A reusable buffer that grows to the largest size asked of it and is never shrunk or freed per call.
final class GrowableBuffer {
    private var buffer: UnsafeMutableBufferPointer<Float>
    init() { buffer = LargeAllocation.floats(1) }
    deinit { LargeAllocation.free(buffer) }
    /// At least `count` floats (contents undefined after growing).
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > buffer.count {
            LargeAllocation.free(buffer)
            buffer = LargeAllocation.floats(max(count, buffer.count + buffer.count / 2))
        }
        return buffer.baseAddress!
    }
}

/// Runs GPT-2 forward passes for inference. Owns its workspace (allocated for the largest batch seen and
/// reused), so one runner serves one thread at a time; make one per compute thread.
public final class GPTRunner {
    public let model: GPTModel
    private let scratch = GrowableBuffer()
    private let logitsBuffer = GrowableBuffer()
    private var tokens: [Int32] = []

    public init(model: GPTModel) { self.model = model }

    /// Checks and packs sequences into one token array.
    private func pack(_ sequences: [[Int32]]) throws -> PackedBatch {
        let config = model.config
        tokens.removeAll(keepingCapacity: true)
        for s in sequences {
            guard !s.isEmpty else { throw ModelError.sequenceTooLong(length: 0, maxPositions: config.maxPositions) }
            guard s.count <= config.maxPositions else { throw ModelError.sequenceTooLong(length: s.count, maxPositions: config.maxPositions) }
            for t in s where t < 0 || Int(t) >= config.vocabSize { throw ModelError.tokenOutOfRange(token: t, vocabSize: config.vocabSize) }
            tokens.append(contentsOf: s)
        }
        return PackedBatch(lengths: sequences.map(\.count))
    }

    /// Runs embeddings, every block and the final LayerNorm over the packed batch and calls `body` with the
    /// final hidden states [N,C] (valid only inside `body`).
    public func withHiddenStates<R>(_ sequences: [[Int32]], _ body: (UnsafePointer<Float>, PackedBatch) throws -> R) throws -> R {
        let batch = try pack(sequences)
        let config = model.config, C = config.channels, N = batch.tokenCount
        let actCount = BlockActivations.count(batch, config: config, keep: false)
        let base = scratch.reserve(actCount + 2 * N * C + 2 * N)
        let acts = BlockActivations(base, batch, config: config, keep: false)
        var x = base + actCount, y = x + N * C
        let mean = y + N * C, rstd = mean + N
        let t = model.tensors
        tokens.withUnsafeBufferPointer { encoderForward(x, $0.baseAddress!, batch, t.wte, t.wpe, C: C) }
        for l in 0..<config.layers {
            blockForward(y, x, t.blocks[l], acts, batch, config: config)
            swap(&x, &y)
        }
        layernormForward(y, mean, rstd, x, t.lnfw, t.lnfb, N: N, C: C, eps: config.layerNormEpsilon)
        return try body(y, batch)
    }

    /// Runs the model and calls `body` with the LM logits [N,V] of the packed batch (tied head: hidden · wteᵀ).
    public func withLogits<R>(_ sequences: [[Int32]], _ body: (UnsafePointer<Float>, PackedBatch) throws -> R) throws -> R {
        let V = model.config.vocabSize, C = model.config.channels
        return try withHiddenStates(sequences) { hidden, batch in
            let logits = logitsBuffer.reserve(batch.tokenCount * V)
            gemm(transB: true, M: batch.tokenCount, N: V, K: C, hidden, lda: C, model.tensors.wte, ldb: C, logits, ldc: V)
            return try body(logits, batch)
        }
    }

    /// Mean next-token cross-entropy (nats) of each sequence under the tied LM head, and its number of
    /// predictions: a sequence of T tokens has T−1; a single token has none (loss 0).
    public func languageModelLoss(_ sequences: [[Int32]]) throws -> [(loss: Double, predictions: Int)] {
        let V = model.config.vocabSize
        return try withLogits(sequences) { logits, batch in
            zip(batch.starts, batch.lengths).map { start, T in
                var total = 0.0
                for t in 0..<(T - 1) {
                    let row = logits + (start + t) * V
                    let m = vmax(row, V)
                    var sum = 0.0
                    for v in 0..<V { sum += Double(fastExp(row[v] - m)) }
                    total += Double(m) + log(sum) - Double(row[Int(tokens[start + t + 1])])
                }
                return (T > 1 ? total / Double(T - 1) : 0, T - 1)
            }
        }
    }
}
