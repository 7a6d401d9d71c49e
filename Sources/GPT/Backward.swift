/// Gradient buffers for one block's backward pass (sized for N tokens), shared by all blocks.
struct BlockGradScratch {
    let dfchGelu, dfch: UnsafeMutablePointer<Float>   // [N,4C]
    let dln, datty: UnsafeMutablePointer<Float>       // [N,C]
    let dqkv: UnsafeMutablePointer<Float>             // [N,3C]
    let attScratch: UnsafeMutablePointer<Float>       // attentionBackwardScratchCount

    static func count(tokens N: Int, maxLength T: Int, C: Int) -> Int {
        2 * N * 4 * C + 2 * N * C + N * 3 * C + attentionBackwardScratchCount(maxLength: T)
    }

    init(_ base: UnsafeMutablePointer<Float>, tokens N: Int, C: Int) {
        var q = base
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { q += n }; return q }
        dfchGelu = take(N * 4 * C); dfch = take(N * 4 * C)
        dln = take(N * C); datty = take(N * C)
        dqkv = take(N * 3 * C)
        attScratch = q
    }
}

/// Backward of `mlpForward`: on entry dx[N,C] is the gradient w.r.t. its output; on return, w.r.t. its input x
/// (the residual path plus the MLP path). dln2 [N,C], dfch and dfchGelu [N,4C] are scratch.
func mlpBackward(_ dx: UnsafeMutablePointer<Float>, _ g: BlockTensors, _ w: BlockTensors, x: UnsafePointer<Float>,
                 ln2: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                 fch: UnsafePointer<Float>, fchGelu: UnsafePointer<Float>,
                 dln2: UnsafeMutablePointer<Float>, dfch: UnsafeMutablePointer<Float>, dfchGelu: UnsafeMutablePointer<Float>, N: Int, C: Int) {
    dfchGelu.update(repeating: 0, count: N * 4 * C)
    matmulBackward(dfchGelu, g.fcprojw, g.fcprojb, dx, fchGelu, w.fcprojw, N: N, IC: 4 * C, OC: C)
    dfch.update(repeating: 0, count: N * 4 * C)
    geluBackward(dfch, fch, dfchGelu, count: N * 4 * C)
    dln2.update(repeating: 0, count: N * C)
    matmulBackward(dln2, g.fcw, g.fcb, dfch, ln2, w.fcw, N: N, IC: C, OC: 4 * C)
    layernormBackward(dx, g.ln2w, g.ln2b, dln2, x, w.ln2w, mean, rstd, N: N, C: C)
}

/// Backward of `blockForward`. On entry dresidual[N,C] is the gradient w.r.t. the block's output; on return,
/// w.r.t. its input. Parameter gradients accumulate into `g`.
func blockBackward(_ dresidual: UnsafeMutablePointer<Float>, _ g: BlockTensors, _ input: UnsafePointer<Float>,
                   _ w: BlockTensors, _ a: BlockActivations, _ s: BlockGradScratch, _ batch: PackedBatch, config: GPTConfig) {
    let N = batch.tokenCount, C = config.channels
    mlpBackward(dresidual, g, w, x: a.residual2, ln2: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, fch: a.fch, fchGelu: a.fchGelu,
                dln2: s.dln, dfch: s.dfch, dfchGelu: s.dfchGelu, N: N, C: C)
    // Attention branch: residual2 = x + attproj(attention(qkv(ln1(x))))
    s.datty.update(repeating: 0, count: N * C)
    matmulBackward(s.datty, g.attprojw, g.attprojb, dresidual, a.atty, w.attprojw, N: N, IC: C, OC: C)
    attentionBackward(s.dqkv, s.attScratch, s.datty, a.qkv, a.att, batch, NH: config.heads, C: C)
    s.dln.update(repeating: 0, count: N * C)
    matmulBackward(s.dln, g.qkvw, g.qkvb, s.dqkv, a.ln1, w.qkvw, N: N, IC: C, OC: 3 * C)
    layernormBackward(dresidual, g.ln1w, g.ln1b, s.dln, input, w.ln1w, a.ln1Mean, a.ln1Rstd, N: N, C: C)
}
