import Foundation

/// The hyperparameters of a GPT-2 model, read from a Hugging Face `config.json`.
public struct GPTConfig: Sendable, Hashable, Codable {
    public var vocabSize: Int        // V: 50257 for GPT-2
    public var maxPositions: Int     // maxT: n_positions, 1024 for GPT-2
    public var channels: Int         // C: n_embd
    public var layers: Int           // L: n_layer
    public var heads: Int            // NH: n_head
    public var layerNormEpsilon: Float

    public init(vocabSize: Int, maxPositions: Int, channels: Int, layers: Int, heads: Int, layerNormEpsilon: Float = 1e-5) {
        self.vocabSize = vocabSize
        self.maxPositions = maxPositions
        self.channels = channels
        self.layers = layers
        self.heads = heads
        self.layerNormEpsilon = layerNormEpsilon
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", maxPositions = "n_positions", channels = "n_embd"
        case layers = "n_layer", heads = "n_head", layerNormEpsilon = "layer_norm_epsilon"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        maxPositions = try c.decode(Int.self, forKey: .maxPositions)
        channels = try c.decode(Int.self, forKey: .channels)
        layers = try c.decode(Int.self, forKey: .layers)
        heads = try c.decode(Int.self, forKey: .heads)
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-5
    }

    /// Reads `config.json`; the keys GPT-2 uses are required, the rest of the file is ignored.
    public static func load(_ url: URL) throws -> GPTConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.unreadable(url.path, reason: "\(error.localizedDescription)")
        }
        let config: GPTConfig
        do { config = try JSONDecoder().decode(GPTConfig.self, from: data) } catch {
            throw ModelError.badConfig(url.path, reason: describe(error))
        }
        try config.validate(file: url.path)
        return config
    }

    func validate(file: String) throws {
        for (name, v) in [("vocab_size", vocabSize), ("n_positions", maxPositions), ("n_embd", channels),
                          ("n_layer", layers), ("n_head", heads)] where v <= 0 {
            throw ModelError.badConfig(file, reason: "\(name) must be positive, is \(v)")
        }
        if channels % heads != 0 {
            throw ModelError.badConfig(file, reason: "n_embd \(channels) is not a multiple of n_head \(heads)")
        }
        if !(layerNormEpsilon > 0) {
            throw ModelError.badConfig(file, reason: "layer_norm_epsilon must be positive")
        }
    }

    /// Number of parameters of the transformer (with the tied embedding counted once).
    public var parameterCount: Int { ParameterLayout(self).totalCount }
}

private func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing key \"\(key.stringValue)\""
    case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
        return "bad value at \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)"
    case DecodingError.dataCorrupted(let ctx): return "not valid JSON: \(ctx.debugDescription)"
    default: return "\(error)"
    }
}

/// Everything that can go wrong loading a model, with the file (and tensor) it concerns.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, reason: String)
    case badConfig(String, reason: String)
    case corrupt(String, reason: String)
    case missingTensor(String, tensor: String)
    case wrongShape(String, tensor: String, expected: [Int], found: [Int])
    case unsupportedDType(String, tensor: String, dtype: String)
    case tokenOutOfRange(token: Int32, vocabSize: Int)
    case sequenceTooLong(length: Int, maxPositions: Int)

    public var description: String {
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .badConfig(let f, let r): return "\(f): bad model config: \(r)"
        case .corrupt(let f, let r): return "\(f): corrupt safetensors file: \(r)"
        case .missingTensor(let f, let t): return "\(f): tensor \"\(t)\" is missing"
        case .wrongShape(let f, let t, let e, let s): return "\(f): tensor \"\(t)\" has shape \(s), expected \(e)"
        case .unsupportedDType(let f, let t, let d): return "\(f): tensor \"\(t)\" has dtype \(d); supported: F32, F16, BF16"
        case .tokenOutOfRange(let t, let v): return "token id \(t) is outside the vocabulary (size \(v))"
        case .sequenceTooLong(let n, let m): return "sequence of \(n) tokens exceeds the model's \(m) positions"
        }
    }
}
