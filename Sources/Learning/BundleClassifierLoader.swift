import Foundation
import SpamguardService
import Training

/// The daemon's classifier loader: a `Training.SpamClassifier` from the base model and the serving bundle —
/// the classifier store's `current` version once the learning loop has promoted one, `[model] classifier`
/// until then.
public struct BundleClassifierLoader: ClassifierLoader {
    public let store: BundleStore?

    public init(store: BundleStore?) {
        self.store = store
    }

    /// The bundle `load` would read for `location`.
    public func bundle(for location: ModelLocation) -> String {
        store?.currentDirectory ?? location.classifier
    }

    public func load(_ location: ModelLocation) throws -> any ClassifierModel {
        guard FileOperations.kind(location.base + "/model.safetensors") == .file else {
            throw ModelLoadError.baseMissing(path: location.base)
        }
        let bundle = bundle(for: location)
        guard FileOperations.kind(bundle + "/manifest.json") == .file else {
            throw ModelLoadError.classifierMissing(path: bundle)
        }
        let classifier = try SpamClassifier.load(base: URL(fileURLWithPath: location.base), bundle: URL(fileURLWithPath: bundle))
        return ServedClassifier(classifier)
    }
}

/// A `SpamClassifier` as the daemon's model actor sees it.
final class ServedClassifier: ClassifierModel {
    let classifier: SpamClassifier

    init(_ classifier: SpamClassifier) {
        self.classifier = classifier
    }

    var version: String { classifier.version }
    // The daemon's message reader takes no options yet (SpamguardService's MailText stand-in); once it reads
    // with MailText, this becomes `classifier.extraction`.
    var extraction: SpamguardService.ExtractionOptions { SpamguardService.ExtractionOptions() }
    func tokens(for text: String) -> [Int32] { classifier.tokens(for: text) }
    func spamProbabilities(_ batch: [[Int32]]) throws -> [Float] { try classifier.spamProbabilities(batch) }
}
