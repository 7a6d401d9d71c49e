import Foundation

/// GPT-2 parameters: the config and every tensor in one contiguous Float buffer, allocated once.
public final class GPTModel: @unchecked Sendable {
    // @unchecked: the buffer is written only while loading/initialising, or by a trainer that owns the model.
    public let config: GPTConfig
    public let layout: ParameterLayout
    public let parameters: UnsafeMutableBufferPointer<Float>
    public let tensors: ModelTensors

    /// Zero-filled parameters of the given shape.
    public init(config: GPTConfig) {
        self.config = config
        layout = ParameterLayout(config)
        parameters = LargeAllocation.floats(layout.totalCount)  // zero-filled
        tensors = ModelTensors(parameters.baseAddress!, layout: layout)
    }

    deinit { LargeAllocation.free(parameters) }

    /// GPT-2's initialisation: weights N(0, 0.02), LayerNorm gains 1, biases 0. With `randomizeAll`
    /// every tensor (biases and gains too) is random, which tests use so no term can hide.
    public convenience init(config: GPTConfig, seed: UInt64, randomizeAll: Bool = false) {
        self.init(config: config)
        var rng = SeededRandom(seed: seed)
        for (name, shape, offset) in layout.tensors {
            let p = parameters.baseAddress! + offset
            let n = shape.reduce(1, *)
            let isGain = name.hasSuffix("ln_1.weight") || name.hasSuffix("ln_2.weight") || name == "ln_f.weight"
            let isBias = name.hasSuffix(".bias")
            for i in 0..<n {
                if randomizeAll { p[i] = (isGain ? 1 : 0) + 0.1 * rng.nextNormal() }
                else if isGain { p[i] = 1 }
                else if isBias { p[i] = 0 }
                else { p[i] = 0.02 * rng.nextNormal() }
            }
        }
    }

    /// Loads `config.json` and `model.safetensors` from a Hugging Face gpt2-layout directory.
    /// Tensor names may carry the `transformer.` prefix (GPT2LMHeadModel checkpoints) or not (GPT2Model).
    public static func load(directory: URL) throws -> GPTModel {
        let config = try GPTConfig.load(directory.appendingPathComponent("config.json"))
        let file = try SafeTensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        let model = GPTModel(config: config)
        let prefix = file.tensors["wte.weight"] == nil && file.tensors["transformer.wte.weight"] != nil ? "transformer." : ""
        for (name, shape, offset) in model.layout.tensors {
            try file.read(prefix + name, shape: shape, into: model.parameters.baseAddress! + offset)
        }
        return model
    }

    /// Writes `config.json` and `model.safetensors` (F32, Hugging Face names) into `directory`.
    public func save(to directory: URL, extraConfig: [String: Any] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var json: [String: Any] = ["model_type": "gpt2", "activation_function": "gelu_new",
                                   "vocab_size": config.vocabSize, "n_positions": config.maxPositions,
                                   "n_ctx": config.maxPositions, "n_embd": config.channels,
                                   "n_layer": config.layers, "n_head": config.heads,
                                   "layer_norm_epsilon": Double(config.layerNormEpsilon)]
        json.merge(extraConfig) { $1 }
        try writeDurably(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]),
                         to: directory.appendingPathComponent("config.json"))
        let tensors = layout.tensors.map { t in
            SafeTensorsWriter.Tensor(name: t.name, shape: t.shape,
                                     values: UnsafeBufferPointer(start: parameters.baseAddress! + t.offset, count: t.shape.reduce(1, *)))
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))
    }
}

/// A small, fast, seedable generator (SplitMix64), so runs with the same seed repeat exactly.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }
    /// Standard normal (Box–Muller).
    public mutating func nextNormal() -> Float {
        let u1 = max(nextUniform(), 1e-7), u2 = nextUniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
