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
        let (manifest, model, head, bag) = try ClassifierBundle.load(bundle, base: base)
        let tokenizer = try GPT2Tokenizer.load(directory: base ?? URL(fileURLWithPath: manifest.base.path))
        let network = ClassifierNetwork(model: model, scope: .headOnly, head: head, windowPooling: manifest.windowPooling,
                                        bag: manifest.bag, bagWeights: bag)
        return SpamClassifier(manifest: manifest, tokenizer: tokenizer, network: network)
    }

    init(manifest: ClassifierManifest, tokenizer: GPT2Tokenizer, network: ClassifierNetwork) {
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.network = network
        windows = manifest.tokenWindows
    }

    /// How a message's tokens are cut into the windows the model reads.
    public let windows: TokenWindows

    /// The most tokens of a message the classifier reads (`maxTokens` × `windows`, or the bag's reach when
    /// that is further): tokenize this many.
    public var tokenLimit: Int { manifest.tokenLimit }

    /// The model's input for a classification text: at most `tokenLimit` tokens, padded for `.last` pooling.
    public func tokens(for text: String) -> [Int32] {
        tokens(forTokens: tokenizer.encode(text, maxTokens: tokenLimit))
    }

    /// The model's input for already tokenized text: cut to `tokenLimit`; without a bag head, also prepared as
    /// the windows read it (padded for `.last` pooling). With one, the bag needs the tokens as they are, and
    /// `spamProbabilities` prepares the windows.
    public func tokens(forTokens ids: [Int32]) -> [Int32] {
        manifest.bag == nil ? windows.prepare(ids) : Array(ids.prefix(tokenLimit))
    }

    /// Spam probability of each message's input (`tokens(for:)`): its windows go through the body in one packed
    /// batch and are combined before the head; the bag head, if any, reads the tokens as a bag.
    public func spamProbabilities(_ batch: [[Int32]]) throws -> [Float] {
        lock.lock(); defer { lock.unlock() }
        let split = batch.map { windows.split(windows.prepare($0)) }
        let bags = manifest.bag.map { bag in batch.map { bag.features($0) } }
        return try network.probabilities(.tokens(split.flatMap { $0 }), windows: split.map(\.count), bags: bags).map { $0[1] }
    }

    /// Convenience for one raw message.
    public func spamProbability(message: some Collection<UInt8>) throws -> Float {
        try spamProbabilities([tokens(for: MailText.extract(message, options: extraction).classificationText)])[0]
    }
}
