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

/// Backward of `blockForward`. On entry dresidual[N,C] is the gradient w.r.t. the block's output; on return,
/// w.r.t. its input. Parameter gradients accumulate into `g`.
func blockBackward(_ dresidual: UnsafeMutablePointer<Float>, _ g: BlockTensors, _ input: UnsafePointer<Float>,
                   _ w: BlockTensors, _ a: BlockActivations, _ s: BlockGradScratch, _ batch: PackedBatch, config: GPTConfig) {
    let N = batch.tokenCount, C = config.channels
    // MLP branch: y = residual2 + fcproj(gelu(fc(ln2(residual2))))
    s.dfchGelu.update(repeating: 0, count: N * 4 * C)
    matmulBackward(s.dfchGelu, g.fcprojw, g.fcprojb, dresidual, a.fchGelu, w.fcprojw, N: N, IC: 4 * C, OC: C)
    s.dfch.update(repeating: 0, count: N * 4 * C)
    geluBackward(s.dfch, a.fch, s.dfchGelu, count: N * 4 * C)
    s.dln.update(repeating: 0, count: N * C)
    matmulBackward(s.dln, g.fcw, g.fcb, s.dfch, a.ln2, w.fcw, N: N, IC: C, OC: 4 * C)
    layernormBackward(dresidual, g.ln2w, g.ln2b, s.dln, a.residual2, w.ln2w, a.ln2Mean, a.ln2Rstd, N: N, C: C)
    // Attention branch: residual2 = x + attproj(attention(qkv(ln1(x))))
    s.datty.update(repeating: 0, count: N * C)
    matmulBackward(s.datty, g.attprojw, g.attprojb, dresidual, a.atty, w.attprojw, N: N, IC: C, OC: C)
    attentionBackward(s.dqkv, s.attScratch, s.datty, a.qkv, a.att, batch, NH: config.heads, C: C)
    s.dln.update(repeating: 0, count: N * C)
    matmulBackward(s.dln, g.qkvw, g.qkvb, s.dqkv, a.ln1, w.qkvw, N: N, IC: C, OC: 3 * C)
    layernormBackward(dresidual, g.ln1w, g.ln1b, s.dln, input, w.ln1w, a.ln1Mean, a.ln1Rstd, N: N, C: C)
}
