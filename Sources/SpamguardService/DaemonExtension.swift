import Logging
import ServiceLifecycle

/// The parts of a running daemon that services assembled outside this library plug into — the learning loop,
/// which needs the model actor to swap in promoted classifiers and the mail activity to train only when idle.
public struct DaemonParts: Sendable {
    public let configuration: Configuration
    public let models: ModelActor
    public let activity: MailActivity
    public let loader: any ClassifierLoader
    public let logger: Logger

    public init(configuration: Configuration, models: ModelActor, activity: MailActivity, loader: any ClassifierLoader, logger: Logger) {
        self.configuration = configuration
        self.models = models
        self.activity = activity
        self.loader = loader
        self.logger = logger
    }
}

/// What such an assembly adds to the daemon: services run in its `ServiceGroup` (after the model actor and
/// before libmilter, so they stop before the model actor), and the learning loop's operator face for the
/// control socket.
public struct DaemonExtension: Sendable {
    public var services: [any Service]
    public var learning: (any LearningOperations)?

    public init(services: [any Service] = [], learning: (any LearningOperations)? = nil) {
        self.services = services
        self.learning = learning
    }
}

/// Builds the extension once the daemon's parts exist.
public typealias DaemonExtensionFactory = @Sendable (DaemonParts) async -> DaemonExtension
