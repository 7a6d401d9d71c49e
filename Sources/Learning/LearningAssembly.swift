import Logging
import SpamguardService

/// Puts the learning loop together for the daemon (`Daemon(…, extension: LearningAssembly.extension(store:))`).
public enum LearningAssembly {
    /// The daemon extension: the loop as a service and `LearningControl` for the control socket. Nothing when
    /// `[feedback] enabled = false`, or when the ledger cannot be opened (logged; the daemon serves mail anyway).
    public static func `extension`(store: BundleStore) -> DaemonExtensionFactory {
        { parts in
            guard parts.configuration.feedback.enabled else {
                parts.logger.notice("learning: off ([feedback] enabled = false)")
                return DaemonExtension()
            }
            do {
                let (loop, control) = try make(parts, store: store)
                return DaemonExtension(services: [loop], learning: control)
            } catch {
                parts.logger.error("learning: off, cannot open its state: \(error)")
                return DaemonExtension()
            }
        }
    }

    /// The loop and its control, over the directories `LearningPaths` names.
    public static func make(_ parts: DaemonParts, store: BundleStore) throws -> (LearningLoop, LearningControl) {
        let paths = LearningPaths(parts.configuration)
        let ledger = try Ledger(path: paths.ledger, logger: parts.logger)
        let intake = FeedbackIntake(folder: FeedbackFolder(root: paths.feedback), ledger: ledger,
                                    maxMessageBytes: parts.configuration.feedback.maxMessageBytes, logger: parts.logger)
        let pace = TrainingPace(activity: parts.activity)
        if FileOperations.kind(paths.pausedMarker) != .missing {
            pace.pause()
            parts.logger.notice("learning: training stays paused (an operator paused it; spamguardctl resume-training)")
        }
        let loop = LearningLoop(
            settings: LearningLoop.Settings(parts.configuration, paths: paths), intake: intake, store: store,
            pace: pace, board: LearningBoard(), models: parts.models, loader: parts.loader,
            activity: parts.activity, logger: parts.logger)
        let catalog = ModelCatalog(store: store, configured: parts.configuration.model.classifier)
        return (loop, LearningControl(loop: loop, catalog: catalog, pausedMarker: paths.pausedMarker, logger: parts.logger))
    }
}
