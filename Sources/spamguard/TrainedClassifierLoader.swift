import Foundation
import SpamguardService
import Training

/// `Training.SpamClassifier` is the daemon's model: it already has the shape `ClassifierModel` asks for.
extension SpamClassifier: ClassifierModel {}

/// Loads the classifier bundle written by `spamguardctl train` onto its base model.
struct TrainedClassifierLoader: ClassifierLoader {
    func load(_ location: ModelLocation) throws -> any ClassifierModel {
        let files = FileManager.default
        guard files.fileExists(atPath: location.base) else { throw ModelLoadError.baseMissing(path: location.base) }
        // No bundle yet is the normal state of a fresh install; anything at the path is loaded, and refused
        // with the loader's own reason if it is not a sound bundle for this base model.
        guard files.fileExists(atPath: location.classifier) else { throw ModelLoadError.classifierMissing(path: location.classifier) }
        return try SpamClassifier.load(
            base: URL(fileURLWithPath: location.base, isDirectory: true),
            bundle: URL(fileURLWithPath: location.classifier, isDirectory: true)
        )
    }
}
