import ControlProtocol
import MailText

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A loaded classifier. Implemented by `Training.SpamClassifier`.
///
/// Threading contract, which the daemon keeps:
/// - `tokens(for:)` is thread-safe and is called on libmilter's threads, one per message.
/// - `spamProbabilities(_:)` is CPU-heavy (~10–100 ms per batch) and is called from one dedicated compute
///   thread only (see `ComputeThread`), never from the cooperative pool.
public protocol ClassifierModel: AnyObject, Sendable {
    /// Shown in `X-Spam-Status: … model=<version>`, in logs and in systemd's STATUS line.
    var version: String { get }
    /// What text to extract from a message for this model.
    var extraction: ExtractionOptions { get }
    /// Tokenize and truncate one message's classification text.
    func tokens(for text: String) -> [Int32]
    /// One spam probability in [0, 1] per token sequence, in order.
    func spamProbabilities(_ batch: [[Int32]]) throws -> [Float]
    /// What `spamguardctl stats` shows about the classifier besides its version.
    var facts: ClassifierFacts { get }
}

extension ClassifierModel {
    public var facts: ClassifierFacts { ClassifierFacts() }
}

/// Where a classifier comes from and how well it did when it was trained.
public struct ClassifierFacts: Sendable, Equatable {
    /// When it was trained.
    public var created: Date?
    /// The base model's directory.
    public var base: String?
    /// SHA-256 of the base model's weights.
    public var baseSHA256: String?
    /// Its figures on the validation split it was trained with.
    public var validation: ValidationFigures?

    public init(created: Date? = nil, base: String? = nil, baseSHA256: String? = nil, validation: ValidationFigures? = nil) {
        self.created = created
        self.base = base
        self.baseSHA256 = baseSHA256
        self.validation = validation
    }
}

/// Where a model comes from: the base model directory and the trained classifier bundle.
public struct ModelLocation: Sendable, Equatable {
    public var base: String
    public var classifier: String

    public init(base: String, classifier: String) {
        self.base = base
        self.classifier = classifier
    }
}

/// Loads a classifier from disk. The daemon's main supplies the real one (`Training.SpamClassifier.load`).
public protocol ClassifierLoader: Sendable {
    /// Loads the model at `location`.
    /// - Throws: `ModelLoadError.classifierMissing` when no classifier has been trained yet; any other error
    ///   means the files exist but were refused (corrupt, wrong shape, unreadable).
    func load(_ location: ModelLocation) throws -> any ClassifierModel
}

public enum ModelLoadError: Error, CustomStringConvertible, Equatable {
    /// No classifier bundle at the configured path: nothing has been trained yet.
    case classifierMissing(path: String)
    /// No base model at the configured path.
    case baseMissing(path: String)

    public var description: String {
        switch self {
        case .classifierMissing(let path):
            "no classifier has been trained yet (nothing at \(path)); train one with `spamguardctl train`, "
                + "then reload (systemctl reload spamguard)"
        case .baseMissing(let path):
            "no base model at \(path) (expected the Hugging Face gpt2 layout: config.json, model.safetensors, "
                + "vocab.json, merges.txt)"
        }
    }
}
