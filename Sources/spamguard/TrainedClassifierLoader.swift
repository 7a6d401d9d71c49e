import ControlProtocol
import Foundation
import MailText
import SpamguardService
import Training

#if canImport(Glibc)
import Glibc
#endif

/// Loads the classifier the daemon serves with `Training.SpamClassifier`: the base model from `[model] base`,
/// the bundle written by `spamguardctl train` from `[model] classifier`.
struct TrainedClassifierLoader: ClassifierLoader {
    func load(_ location: ModelLocation) throws -> any ClassifierModel {
        guard access(location.base, F_OK) == 0 else { throw ModelLoadError.baseMissing(path: location.base) }
        guard access(location.classifier, F_OK) == 0 else { throw ModelLoadError.classifierMissing(path: location.classifier) }
        let classifier = try SpamClassifier.load(
            base: URL(fileURLWithPath: location.base), bundle: URL(fileURLWithPath: location.classifier)
        )
        return TrainedClassifier(classifier, base: location.base)
    }
}

/// A `SpamClassifier` as the daemon's `ClassifierModel`.
final class TrainedClassifier: ClassifierModel {
    private let classifier: SpamClassifier
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

    func tokens(for text: String) -> [Int32] {
        classifier.tokens(for: text)
    }

    func spamProbabilities(_ batch: [[Int32]]) throws -> [Float] {
        try classifier.spamProbabilities(batch)
    }
}
