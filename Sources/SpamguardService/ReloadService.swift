import Logging
import ServiceLifecycle
import Synchronization

/// Reloads the configuration and the model on request — SIGHUP or SIGUSR1 (`ReloadSignals`, through
/// `requestReload`) and the control socket (`reloadAndWait`) — without dropping connections: new settings apply from the next
/// callback on, a new model from the next batch; messages already tokenized finish on the model they began
/// with. A configuration or model that fails to load is refused and the running one is kept.
public final class ReloadService: Service, Sendable {
    public enum Trigger: Sendable, Equatable, CustomStringConvertible {
        case signal(Int32)
        case control

        public var description: String {
            switch self {
            case .signal(let number): "signal \(number)"
            case .control: "control command"
            }
        }
    }

    /// What one reload did.
    public struct Report: Sendable, Equatable {
        /// False when the configuration was refused (the error is logged, and in `refusal`).
        public var configurationApplied: Bool
        /// The model version serving after the reload.
        public var modelVersion: String?
        public var modelReplaced: Bool
        /// The model version serving before the reload.
        public var previousModelVersion: String? = nil
        /// Why the configuration or the model was refused; nil when both were taken.
        public var refusal: String? = nil
    }

    private let requests: AsyncStream<Trigger>
    private let continuation: AsyncStream<Trigger>.Continuation
    private let configurationPath: String
    private let loader: any ClassifierLoader
    private let models: ModelActor
    private let filter: MessageFilter
    private let sink: LogSink
    private let notifier: SystemdNotifier
    private let logger: Logger
    private let running: Mutex<Configuration>
    private let waiting = Mutex(Waiting())

    /// Callers of `reloadAndWait` and the requests they are covered by.
    private struct Waiting {
        /// Counts requests; a reload that starts after request n has been counted serves it.
        var requested = 0
        var waiters: [(request: Int, continuation: CheckedContinuation<Report?, Never>)] = []
        var stopped = false
    }

    public init(
        configurationPath: String, running configuration: Configuration, loader: any ClassifierLoader,
        models: ModelActor, filter: MessageFilter, sink: LogSink, notifier: SystemdNotifier, logger: Logger
    ) {
        (requests, continuation) = AsyncStream.makeStream(of: Trigger.self, bufferingPolicy: .bufferingNewest(1))
        self.configurationPath = configurationPath
        self.running = Mutex(configuration)
        self.loader = loader
        self.models = models
        self.filter = filter
        self.sink = sink
        self.notifier = notifier
        self.logger = logger
    }

    /// Asks for a reload; requests arriving while one runs collapse into one more. Returns at once.
    public func requestReload(_ trigger: Trigger) {
        continuation.yield(trigger)
    }

    /// Asks for a reload and waits for one that started after this call; nil when the daemon stops first.
    /// Requests arriving while a reload runs share the next one, as with `requestReload`.
    public func reloadAndWait(_ trigger: Trigger) async -> Report? {
        await withCheckedContinuation { waiter in
            let accepted = waiting.withLock { waiting in
                guard !waiting.stopped else { return false }
                waiting.requested += 1
                waiting.waiters.append((waiting.requested, waiter))
                return true
            }
            if accepted {
                requestReload(trigger)
            } else {
                waiter.resume(returning: nil)
            }
        }
    }

    public func run() async {
        for await trigger in requests.cancelOnGracefulShutdown() {
            // Every request counted so far was made before this reload starts: this reload serves it.
            let covered = waiting.withLock { $0.requested }
            let report = await reload(trigger)
            let served = waiting.withLock { waiting in
                let (served, later) = (waiting.waiters.filter { $0.request <= covered }, waiting.waiters.filter { $0.request > covered })
                waiting.waiters = later
                return served
            }
            for waiter in served { waiter.continuation.resume(returning: report) }
        }
        let left = waiting.withLock { waiting in
            waiting.stopped = true
            defer { waiting.waiters.removeAll() }
            return waiting.waiters
        }
        for waiter in left { waiter.continuation.resume(returning: nil) }
    }

    public func reload(_ trigger: Trigger) async -> Report {
        logger.notice("reloading configuration and model (\(trigger))")
        notifier.reloading(status: "reloading")
        defer {
            notifier.ready(status: SystemdStatusService.line(model: models.currentModel?.version, counts: filter.counters.snapshot))
        }

        let configuration: Configuration
        do {
            configuration = try Configuration.load(from: configurationPath)
        } catch {
            logger.error("reload refused: \(error); the running configuration and model stay")
            let version = models.currentModel?.version
            return Report(
                configurationApplied: false, modelVersion: version, modelReplaced: false, previousModelVersion: version,
                refusal: "configuration refused: \(error); the running configuration and model \(version ?? "none") stay"
            )
        }
        let previous = running.withLock { running in
            defer { running = configuration }
            return running
        }
        if configuration.milter != previous.milter {
            logger.warning("[milter] changed; libmilter's socket and timeouts change only with a restart (systemctl restart spamguard)")
        }
        sink.setLevel(configuration.logLevel)
        filter.update(FilterSettings(configuration))
        await models.update(limits: BatchLimits(configuration.batching))

        let previousModel = models.currentModel?.version
        let current = previousModel ?? "none"
        let refusal: String
        switch await ModelLoading.load(configuration.model.location, with: loader) {
        case .loaded(let model, let elapsed):
            await models.swap(to: model)
            logger.notice("reload: model \(model.version) loaded in \(MessageFilter.milliseconds(elapsed)) ms (was \(current))")
            return Report(configurationApplied: true, modelVersion: model.version, modelReplaced: true, previousModelVersion: previousModel)
        case .missing(let error):
            logger.error("reload: \(error); keeping model \(current)")
            refusal = "\(error); keeping model \(current)"
        case .refused(let error):
            logger.critical("reload: refusing the model (base \(configuration.model.base), classifier \(configuration.model.classifier)): \(error); keeping model \(current)")
            refusal = "model refused (classifier \(configuration.model.classifier)): \(error); keeping model \(current)"
        }
        return Report(
            configurationApplied: true, modelVersion: models.currentModel?.version, modelReplaced: false,
            previousModelVersion: previousModel, refusal: refusal
        )
    }
}
