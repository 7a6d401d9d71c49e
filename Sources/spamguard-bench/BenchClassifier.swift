import Foundation
import GPT
import MailText
import Tokenizer
import Training

extension GPTConfig {
    /// GPT-2 small: 124M parameters.
    static let gpt2Small = GPTConfig(vocabSize: 50257, maxPositions: 1024, channels: 768, layers: 12, heads: 12)
}

/// A base model directory and a classifier bundle on it, written with the real bundle code so that the daemon
/// loads them through its normal path. The head is untrained (seeded random): right for timing, not for verdicts.
struct BenchClassifier {
    enum Shape: String, CaseIterable {
        /// The --model directory as it is.
        case model
        /// Random weights of the GPT-2 124M shape with the --model directory's tokenizer.
        case gpt2Small = "gpt2-124m"
    }

    let name: String
    let base: URL
    let bundle: URL
    let config: GPTConfig
    let manifest: ClassifierManifest

    /// Writes what `shape` needs below `directory`: for `.gpt2Small` the base model too (about 500 MB).
    static func prepare(_ shape: Shape, model: URL, tokenizer: URL, maxTokens: Int, in directory: URL) throws -> BenchClassifier {
        let name: String, base: URL, gpt: GPTModel
        switch shape {
        case .model:
            name = model.lastPathComponent
            base = model.standardizedFileURL
            gpt = try GPTModel.load(directory: base)
        case .gpt2Small:
            name = "gpt2-124m shape (random weights)"
            base = directory.appendingPathComponent("gpt2-124m")
            gpt = GPTModel(config: .gpt2Small, seed: 1)
            try gpt.save(to: base)
            try copyTokenizer(from: [model, tokenizer], to: base)
        }
        let tokenizer = try GPT2Tokenizer.load(directory: base)
        var settings = TrainingSettings()
        settings.maxTokens = maxTokens
        let manifest = ClassifierManifest(
            version: "", created: Date(),
            base: .init(path: base.path, sha256: try sha256(file: base.appendingPathComponent("model.safetensors")), config: gpt.config),
            trainable: settings.scope, pooling: settings.pooling, maxTokens: min(maxTokens, gpt.config.maxPositions),
            padToken: tokenizer.endOfText, extraction: ExtractionOptions(headers: .all), metrics: [:],
            training: .init(settings: settings, sources: [:], summary: [:], seconds: 0, steps: 0, parentVersion: nil))
        let bundle = directory.appendingPathComponent("classifier-\(shape.rawValue)")
        let network = ClassifierNetwork(model: gpt, scope: settings.scope, seed: 7, bag: settings.bag)
        let written = try ClassifierBundle.write(network, manifest: manifest, to: bundle)
        return BenchClassifier(name: name, base: base, bundle: bundle, config: gpt.config, manifest: written)
    }

    /// The first of `sources` with vocab.json and merges.txt (or a single *.tiktoken file) gives its files.
    private static func copyTokenizer(from sources: [URL], to directory: URL) throws {
        let files = FileManager.default
        for source in sources {
            let names = (try? files.contentsOfDirectory(atPath: source.path)) ?? []
            let wanted = Set(names).isSuperset(of: ["vocab.json", "merges.txt"])
                ? ["vocab.json", "merges.txt"] : names.filter { $0.hasSuffix(".tiktoken") }
            guard wanted == ["vocab.json", "merges.txt"] || wanted.count == 1 else { continue }
            for name in wanted {
                try files.copyItem(at: source.appendingPathComponent(name), to: directory.appendingPathComponent(name))
            }
            return
        }
        throw ValidationFailure("no GPT-2 tokenizer files (vocab.json + merges.txt, or a .tiktoken file) in \(sources.map(\.path))")
    }
}

struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
