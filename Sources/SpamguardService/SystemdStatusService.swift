import Logging
import ServiceLifecycle

/// Keeps systemd informed while the daemon runs: `STATUS=` with the model version and message counts, and
/// `WATCHDOG=1` — sent only when the model actor has just answered and its compute thread is not stuck, so
/// that systemd restarts a daemon whose model no longer works (`WatchdogSec=` in the unit).
public struct SystemdStatusService: Service {
    let notifier: SystemdNotifier
    let models: ModelActor
    let counters: MessageCounters
    let logger: Logger
    let statusInterval: Duration

    public init(
        notifier: SystemdNotifier, models: ModelActor, counters: MessageCounters, logger: Logger,
        statusInterval: Duration = .seconds(10)
    ) {
        self.notifier = notifier
        self.models = models
        self.counters = counters
        self.logger = logger
        self.statusInterval = statusInterval
    }

    public func run() async {
        let watchdog = notifier.watchdogInterval
        // systemd's advice: ping at half the interval. A forward pass running longer than the whole interval
        // means the compute thread is stuck: then the ping stops.
        let tick = min(statusInterval, watchdog.map { $0 / 2 } ?? statusInterval)
        var sinceStatus = Duration.zero
        var reportedStall = false
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let status = await models.status()
            if let watchdog {
                if let computing = status.computingFor, computing > watchdog {
                    if !reportedStall {
                        logger.critical("a forward pass has been running for \(computing); withholding the watchdog ping")
                        reportedStall = true
                    }
                } else {
                    notifier.watchdog()
                    reportedStall = false
                }
            }
            if sinceStatus >= statusInterval || sinceStatus == .zero {
                notifier.status(Self.line(model: status.version, counts: counters.snapshot))
                sinceStatus = .zero
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: tick) }
            } catch {
                return
            }
            sinceStatus += tick
        }
    }

    /// `model gpt2-spam-3: 120 scanned (7 spam, 2 rejected), 0 unclassified, 4 skipped`
    public static func line(model: String?, counts: MessageCounters.Snapshot) -> String {
        let counts = "\(counts.scanned) scanned (\(counts.spam) spam, \(counts.rejected) rejected), "
            + "\(counts.unclassified) unclassified, \(counts.skipped) skipped"
        guard let model else { return "no classifier trained yet, passing mail unscanned: \(counts)" }
        return "model \(model): \(counts)"
    }
}
