import ControlProtocol
import CoreMetrics
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon, assembled: configuration → model actor → message filter → libmilter, with reload, systemd
/// notification, persisted counters, the control socket and the Prometheus endpoint around them, all run by
/// one `ServiceGroup`.
///
/// Services start together and stop in reverse order, so on shutdown libmilter stops first (and lets the
/// messages at end-of-message finish), and the model actor last. Signals are not the group's: libmilter
/// owns SIGTERM/SIGINT (its stop ends `MilterService`, which shuts the group down) and `ReloadSignals`
/// with the main thread owns SIGHUP/SIGUSR1 — see `ProcessSignals`.
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

        let process = ProcessFacts()
        let prometheus = configuration.metricsListen.map { (address: $0, export: PrometheusExport(process: process)) }
        let metrics: any MetricsFactory = prometheus?.export.factory ?? NOOPMetricsHandler.instance
        let countersFile = CountersFile(directory: configuration.stateDirectory)
        let counters = CountersPersistence.restore(from: countersFile, metrics: metrics, logger: logger)

        let model = await ModelLoading.loadAtStart(configuration.model.location, with: loader, logger: logger)
        let models = ModelActor(model: model, limits: BatchLimits(configuration.batching), logger: logger)
        let filter = MessageFilter(
            settings: FilterSettings(configuration), models: models, logger: logger,
            counters: counters, latency: LatencyStats(metrics: metrics)
        )
        let reloader = ReloadService(
            configurationPath: configurationPath, running: configuration, loader: loader, models: models,
            filter: filter, sink: sink, notifier: notifier, logger: logger
        )
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

        // The control and metrics sockets wait for readiness on one epoll thread, never on the cooperative pool.
        let reactor = try SocketReactor()
        defer { reactor.stop() }
        let learning = extras.learning
        var controlLimits = ControlServer.Limits()
        // `learn` from root or the daemon's user carries whole messages, base64.
        controlLimits.maxPrivilegedLineBytes = max(
            ControlProtocol.maxPrivilegedLineBytes, FeedbackSubmission.encodedSize(of: configuration.feedback.maxMessageBytes) + 64 * 1024)
        let control = ControlServer(
            socketPath: configuration.controlSocket,
            responder: ControlResponder(
                operations: DaemonControl(process: process, filter: filter, models: models, reloader: reloader, learning: learning),
                daemonUID: geteuid(), logger: logger
            ),
            reactor: reactor, limits: controlLimits, logger: logger
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: models),
            .init(service: status),
            .init(service: reloader),
            .init(service: control),
        ]
        if let prometheus {
            let export = prometheus.export
            services.append(.init(service: MetricsEndpoint(
                address: prometheus.address, export: export,
                refresh: {
                    export.refresh(inFlight: filter.messagesInFlight, classifier: models.currentModel, learning: await learning?.learningStatus())
                },
                reactor: reactor, logger: logger
            )))
        }
        services += extras.services.map { .init(service: $0) }
        // Stopped in reverse order: the milter first, then the last save of the counters, then the rest.
        services.append(.init(service: CountersPersistence(file: countersFile, counters: counters, logger: logger)))
        services.append(.init(service: milter, successTerminationBehavior: .gracefullyShutdownGroup))

        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
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
