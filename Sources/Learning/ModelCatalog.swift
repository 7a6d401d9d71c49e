import ControlProtocol
import Foundation
import SpamguardService
import Training

/// The operator's view of the classifier store — what `models` lists — shared by the daemon's
/// `LearningControl` and `spamguardctl` working offline on the same directories.
public struct ModelCatalog: Sendable {
    public let store: BundleStore
    /// `[model] classifier`: what serves until the store has versions.
    public let configured: String

    public init(store: BundleStore, configured: String) {
        self.store = store
        self.configured = configured
    }

    /// The versions, newest first; refused candidates with the reasons `state` (the ledger) gives.
    public func list(_ state: LedgerState) -> ModelList {
        let current = store.currentVersion
        var versions: [ModelVersion] = store.versions().reversed().compactMap { version in
            entry(store.directory(of: version), serving: version == current)
        }
        var configuredPath: String?
        if current == nil, FileOperations.kind(configured + "/manifest.json") == .file {
            configuredPath = configured
            if let entry = entry(configured, serving: true) { versions.insert(entry, at: 0) }
        }
        let refusals = state.refusals
        let refused = store.candidates().reversed().map { version in
            RefusedCandidate(version: version, directory: store.candidateDirectory(of: version),
                             reason: refusals[version] ?? "(no ledger record)")
        }
        return ModelList(versions: versions, refused: refused, configured: configuredPath)
    }

    /// When the serving version was created.
    public func servingCreated() -> (version: String, created: Date)? {
        guard let directory = store.currentDirectory ?? (FileOperations.kind(configured + "/manifest.json") == .file ? configured : nil),
              let manifest = try? ClassifierBundle.readManifest(URL(fileURLWithPath: directory)) else { return nil }
        return (manifest.version, manifest.created)
    }

    private func entry(_ directory: String, serving: Bool) -> ModelVersion? {
        guard let manifest = try? ClassifierBundle.readManifest(URL(fileURLWithPath: directory)) else { return nil }
        func figures(_ name: String) -> ModelFigures? {
            manifest.metrics[name].map { ModelFigures(accuracy: $0.accuracy, falsePositiveRate: $0.fpr, count: $0.count) }
        }
        return ModelVersion(version: manifest.version, created: manifest.created, parent: manifest.training.parentVersion,
                            serving: serving, heldOut: figures("validation"), feedback: figures("feedback"))
    }
}
