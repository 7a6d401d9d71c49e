import Foundation
import GPT
import Tokenizer

/// Writes a tiny GPT-2-layout base model (random weights, GPT-2's initialisation, a byte-level vocabulary of
/// 257 ids) — what the test suites train classifiers on in seconds, since real weights cannot ship with them.
public enum TinyModel {
    public static let config = GPTConfig(vocabSize: 257, maxPositions: 64, channels: 32, layers: 2, heads: 2)

    public static func write(to directory: URL, config: GPTConfig = TinyModel.config, seed: UInt64 = 1) throws {
        precondition(config.vocabSize == 257, "the byte-level vocabulary has 257 ids")
        try GPTModel(config: config, seed: seed).save(to: directory)
        try GPT2Tokenizer.writeVocabulary(to: directory)
    }
}
