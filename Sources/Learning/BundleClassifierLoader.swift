import ControlProtocol
import Foundation
import MailText
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
        // A missing base directory is reported as such; one without usable weights fails below, when the
        // bundle loads, with the loader's own reason — after "no classifier yet", the usual fresh-install state.
        var isDirectory: ObjCBool = false  // follows symbolic links: a linked model directory is fine
        guard FileManager.default.fileExists(atPath: location.base, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelLoadError.baseMissing(path: location.base)
        }
        let bundle = bundle(for: location)
        guard FileOperations.kind(bundle + "/manifest.json") == .file else {
            throw ModelLoadError.classifierMissing(path: bundle)
        }
        let classifier = try SpamClassifier.load(base: URL(fileURLWithPath: location.base), bundle: URL(fileURLWithPath: bundle))
        return ServedClassifier(classifier, base: location.base)
    }
}

/// A `SpamClassifier` as the daemon's model actor sees it, with the bundle's facts for `spamguardctl stats`.
final class ServedClassifier: ClassifierModel {
    let classifier: SpamClassifier
    let facts: ClassifierFacts

    init(_ classifier: SpamClassifier, base: String) {
        self.classifier = classifier
        let manifest = classifier.manifest
        facts = ClassifierFacts(
            created: manifest.created, base: base, baseSHA256: manifest.base.sha256,
            validation: manifest.metrics["validation"].map { metrics in
                ValidationFigures(
                    messages: metrics.count, accuracy: metrics.accuracy, precision: metrics.precision, recall: metrics.recall,
                    f1: metrics.f1, falsePositiveRate: metrics.fpr, rocAUC: metrics.auc.isNaN ? nil : metrics.auc
                )
            }
        )
    }

    var version: String { classifier.version }
    var extraction: ExtractionOptions { classifier.extraction }
    func tokens(for text: String) -> [Int32] { classifier.tokens(for: text) }
    func spamProbabilities(_ batch: [[Int32]]) throws -> [Float] { try classifier.spamProbabilities(batch) }
}
