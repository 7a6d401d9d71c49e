// TEMPORARY: stands in for `Training.SpamClassifier.load(base:bundle:)`, which is being written on main.
// It reports a missing base model or classifier the way the real loader will, and refuses everything else.
// Delete this file after merging main, and pass the Training-backed loader in main.swift.
import SpamguardService

#if canImport(Glibc)
import Glibc
#endif

struct ClassifierLoaderStandIn: ClassifierLoader {
    struct NotAvailable: Error, CustomStringConvertible {
        var description: String { "this build cannot read classifier bundles yet (Training.SpamClassifier is missing)" }
    }

    func load(_ location: ModelLocation) throws -> any ClassifierModel {
        guard access(location.base, F_OK) == 0 else { throw ModelLoadError.baseMissing(path: location.base) }
        guard access(location.classifier, F_OK) == 0 else { throw ModelLoadError.classifierMissing(path: location.classifier) }
        throw NotAvailable()
    }
}
