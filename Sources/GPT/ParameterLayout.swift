/// Where each GPT-2 parameter tensor lives inside one flat Float buffer.
///
/// Order: wte, wpe, then each block's tensors contiguously, then ln_f. Keeping a block's tensors
/// together makes "the last N blocks + ln_f" one contiguous tail of the buffer, which is what a
/// partially frozen finetune trains. Linear weights are stored [in, out] (GPT-2's Conv1D convention),
/// exactly as in the Hugging Face checkpoint, so loading is a plain copy.
public struct ParameterLayout: Sendable, Hashable {
    public let config: GPTConfig
    public var C: Int { config.channels }

    public init(_ config: GPTConfig) { self.config = config }

    public var wteCount: Int { config.vocabSize * C }
    public var wpeCount: Int { config.maxPositions * C }
    /// ln_1 (2C), c_attn (C·3C + 3C), attn c_proj (C·C + C), ln_2 (2C), c_fc (C·4C + 4C), mlp c_proj (4C·C + C).
    public var blockCount: Int { 12 * C * C + 13 * C }
    public func blockOffset(_ layer: Int) -> Int { wteCount + wpeCount + layer * blockCount }
    public var lnfOffset: Int { blockOffset(config.layers) }
    public var totalCount: Int { lnfOffset + 2 * C }

    /// The tensors of one block as (Hugging Face name suffix, shape), in buffer order.
    public var blockTensorShapes: [(String, [Int])] {
        [("ln_1.weight", [C]), ("ln_1.bias", [C]),
         ("attn.c_attn.weight", [C, 3 * C]), ("attn.c_attn.bias", [3 * C]),
         ("attn.c_proj.weight", [C, C]), ("attn.c_proj.bias", [C]),
         ("ln_2.weight", [C]), ("ln_2.bias", [C]),
         ("mlp.c_fc.weight", [C, 4 * C]), ("mlp.c_fc.bias", [4 * C]),
         ("mlp.c_proj.weight", [4 * C, C]), ("mlp.c_proj.bias", [C])]
    }

    /// Every tensor as (Hugging Face name, shape, offset), in buffer order.
    public var tensors: [(name: String, shape: [Int], offset: Int)] {
        var out: [(String, [Int], Int)] = [("wte.weight", [config.vocabSize, C], 0), ("wpe.weight", [config.maxPositions, C], wteCount)]
        for l in 0..<config.layers {
            var offset = blockOffset(l)
            for (suffix, shape) in blockTensorShapes {
                out.append(("h.\(l).\(suffix)", shape, offset))
                offset += shape.reduce(1, *)
            }
        }
        out.append(("ln_f.weight", [C], lnfOffset))
        out.append(("ln_f.bias", [C], lnfOffset + C))
        return out
    }
}

/// Pointers to one block's tensors inside a parameter-shaped buffer (parameters or their gradients).
public struct BlockTensors {
    public let ln1w, ln1b: UnsafeMutablePointer<Float>          // [C]
    public let qkvw, qkvb: UnsafeMutablePointer<Float>          // [C, 3C], [3C]
    public let attprojw, attprojb: UnsafeMutablePointer<Float>  // [C, C], [C]
    public let ln2w, ln2b: UnsafeMutablePointer<Float>          // [C]
    public let fcw, fcb: UnsafeMutablePointer<Float>            // [C, 4C], [4C]
    public let fcprojw, fcprojb: UnsafeMutablePointer<Float>    // [4C, C], [C]

    init(_ p: UnsafeMutablePointer<Float>, C: Int) {
        var q = p
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { q += n }; return q }
        ln1w = take(C); ln1b = take(C)
        qkvw = take(3 * C * C); qkvb = take(3 * C)
        attprojw = take(C * C); attprojb = take(C)
        ln2w = take(C); ln2b = take(C)
        fcw = take(4 * C * C); fcb = take(4 * C)
        fcprojw = take(4 * C * C); fcprojb = take(C)
    }
}

/// Pointers to every tensor of a parameter-shaped buffer.
public struct ModelTensors {
    public let wte: UnsafeMutablePointer<Float>    // [V, C]
    public let wpe: UnsafeMutablePointer<Float>    // [maxT, C]
    public let blocks: [BlockTensors]
    public let lnfw, lnfb: UnsafeMutablePointer<Float>  // [C]

    public init(_ base: UnsafeMutablePointer<Float>, layout: ParameterLayout) {
        wte = base
        wpe = base + layout.wteCount
        blocks = (0..<layout.config.layers).map { BlockTensors(base + layout.blockOffset($0), C: layout.C) }
        lnfw = base + layout.lnfOffset
        lnfb = lnfw + layout.C
    }
}
