import Foundation
import GPT
import MailText
import Tokenizer

/// A trained classifier ready to score mail: base model + bundle + tokenizer + the text settings it was trained with.
///
/// `tokens(for:)` may be called from any thread. `spamProbabilities` runs the model on this object's own
/// workspace, so calls are serialised by a lock; the daemon calls it from one compute thread anyway.
public final class SpamClassifier: @unchecked Sendable {
    public let manifest: ClassifierManifest
    public let tokenizer: GPT2Tokenizer
    private let network: ClassifierNetwork
    private let lock = NSLock()

    public var version: String { manifest.version }
    public var extraction: ExtractionOptions { manifest.extraction }

    /// - Parameter base: the base model directory; nil = the path recorded in the bundle.
    public static func load(base: URL? = nil, bundle: URL) throws -> SpamClassifier {
        let (manifest, model, head) = try ClassifierBundle.load(bundle, base: base)
        let tokenizer = try GPT2Tokenizer.load(directory: base ?? URL(fileURLWithPath: manifest.base.path))
        return SpamClassifier(manifest: manifest, tokenizer: tokenizer, network: ClassifierNetwork(model: model, scope: .headOnly, head: head))
    }

    init(manifest: ClassifierManifest, tokenizer: GPT2Tokenizer, network: ClassifierNetwork) {
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.network = network
    }

    /// The model's input for a classification text: at most `maxTokens` tokens, padded for `.last` pooling.
    public func tokens(for text: String) -> [Int32] {
        tokens(forTokens: tokenizer.encode(text, maxTokens: manifest.maxTokens))
    }

    /// The model's input for already tokenized text (cut to `maxTokens`, padded for `.last` pooling).
    public func tokens(forTokens ids: [Int32]) -> [Int32] {
        var t = Array(ids.prefix(manifest.maxTokens))
        if t.isEmpty { t = [manifest.padToken] }
        if manifest.pooling == .last, t.count < manifest.maxTokens {
            t += [Int32](repeating: manifest.padToken, count: manifest.maxTokens - t.count)
        }
        return t
    }

    /// Spam probability of each token sequence.
    public func spamProbabilities(_ batch: [[Int32]]) throws -> [Float] {
        lock.lock(); defer { lock.unlock() }
        return try network.probabilities(.tokens(batch)).map { $0[1] }
    }

    /// Convenience for one raw message.
    public func spamProbability(message: some Collection<UInt8>) throws -> Float {
        try spamProbabilities([tokens(for: MailText.extract(message, options: extraction).classificationText)])[0]
    }
}
