import Foundation
import SpamguardService
import Training

/// The operator's view of the classifier store — what `models` lists and what `rollback` does — shared by the
/// daemon's `LearningControl` and `spamguardctl` working offline on the same directories.
public struct ModelCatalog: Sendable {
    public let store: BundleStore
    public let ledger: Ledger
    /// `[model] classifier`: what serves until the store has versions.
    public let configured: String

    public init(store: BundleStore, ledger: Ledger, configured: String) {
        self.store = store
        self.ledger = ledger
        self.configured = configured
    }

    public func list() -> ModelList {
        let current = store.currentVersion
        var versions: [ModelVersion] = store.versions().reversed().compactMap { version in
            entry(store.directory(of: version), serving: version == current)
        }
        var configuredPath: String?
        if current == nil, FileOperations.kind(configured + "/manifest.json") == .file {
            configuredPath = configured
            if let entry = entry(configured, serving: true) { versions.insert(entry, at: 0) }
        }
        let refusals = ledger.state.refusals
        let refused = store.candidates().reversed().map { version in
            RefusedCandidate(version: version, directory: store.candidateDirectory(of: version),
                             reason: refusals[version] ?? "(no ledger record)")
        }
        return ModelList(versions: versions, refused: refused, configured: configuredPath)
    }

    /// Serves `version` (nil: the one before the serving one) and records it. The caller swaps the model in.
    public func rollback(to version: String?) throws -> (from: String?, to: String) {
        let (from, to) = try store.rollback(to: version)
        try ledger.recordServing(ServingRecord(version: to, previous: from, reason: "rollback", time: Date()))
        return (from, to)
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
