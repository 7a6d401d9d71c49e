import Logging
import ServiceLifecycle

/// The daemon, assembled: configuration → model actor → message filter → libmilter, with reload and
/// systemd notification around them, all run by one `ServiceGroup`.
///
/// Services start together and stop in reverse order, so on shutdown libmilter stops first (and lets the
/// messages at end-of-message finish), and the model actor last. Signals are not the group's: libmilter
/// owns SIGTERM/SIGINT (its stop ends `MilterService`, which shuts the group down) and `ReloadSignals`
/// owns SIGHUP/SIGUSR1 — see `ProcessSignals`.
public struct Daemon: Sendable {
    let configuration: Configuration
    let configurationPath: String
    let loader: any ClassifierLoader
    let sink: LogSink
    let notifier = SystemdNotifier()
    let makeExtension: DaemonExtensionFactory?

    /// - Parameters:
    ///   - configuration: already loaded from `configurationPath` (main loads it before detaching, so that
    ///     a bad file is reported on the terminal); reloads read the path again.
    ///   - extension: services built from the daemon's parts (the learning loop), run in the same group.
    public init(
        configuration: Configuration, configurationPath: String, loader: any ClassifierLoader, sink: LogSink,
        extension makeExtension: DaemonExtensionFactory? = nil
    ) {
        self.configuration = configuration
        self.configurationPath = configurationPath
        self.loader = loader
        self.sink = sink
        self.makeExtension = makeExtension
    }

    public func run() async throws {
        let logger = sink.makeLogger()
        sink.setLevel(configuration.logLevel)
        logger.notice("starting (configuration \(configurationPath))")

        let model = await ModelLoading.loadAtStart(configuration.model.location, with: loader, logger: logger)
        let models = ModelActor(model: model, limits: BatchLimits(configuration.batching), logger: logger)
        let filter = MessageFilter(settings: FilterSettings(configuration), models: models, logger: logger)
        let reloader = ReloadService(
            configurationPath: configurationPath, running: configuration, loader: loader, models: models,
            filter: filter, sink: sink, notifier: notifier, logger: logger
        )
        // Before MilterService: its thread must exist before libmilter's signal thread (see ProcessSignals).
        let signals = ReloadSignals { [reloader] signal in reloader.requestReload(.signal(signal)) }
        defer { signals.stop() }

        let notifier = self.notifier
        let milter = MilterService(
            configuration: configuration.milter, filter: filter, logger: logger,
            onListening: {
                notifier.ready(status: SystemdStatusService.line(model: models.currentModel?.version, counts: filter.counters.snapshot))
            },
            onStopping: {
                notifier.stopping(status: "stopping: " + SystemdStatusService.line(model: models.currentModel?.version, counts: filter.counters.snapshot))
            }
        )
        let status = SystemdStatusService(notifier: notifier, models: models, counters: filter.counters, logger: logger)
        let parts = DaemonParts(configuration: configuration, models: models, activity: filter.activity, loader: loader, logger: logger)
        let extras = await makeExtension?(parts) ?? DaemonExtension()

        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [
                .init(service: models),
                .init(service: status),
                .init(service: reloader),
            ] + extras.services.map { .init(service: $0) } + [
                .init(service: milter, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            logger: logger
        ))
        do {
            try await group.run()
        } catch {
            notifier.stopping(status: "failed: \(error)")
            logger.critical("stopping: \(error)")
            throw error
        }
        logger.notice("stopped: \(SystemdStatusService.line(model: models.currentModel?.version, counts: filter.counters.snapshot))")
    }
}
