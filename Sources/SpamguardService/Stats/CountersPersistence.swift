import CoreMetrics
import Logging
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Keeps `counters.json` current: saves the message counters every `interval` when they changed, and once
/// more when the daemon stops (list it before `MilterService` in the group, so it stops after the milter
/// and its last save counts every message).
public struct CountersPersistence: Service {
    let file: CountersFile
    let counters: MessageCounters
    let interval: Duration
    let logger: Logger

    public init(file: CountersFile, counters: MessageCounters, interval: Duration = .seconds(5), logger: Logger) {
        self.file = file
        self.counters = counters
        self.interval = interval
        self.logger = logger
    }

    /// The counters the daemon starts with: those saved by an earlier run, or none (counting from now).
    /// An unreadable file is set aside and logged; it never stops the daemon.
    public static func restore(from file: CountersFile, metrics: any MetricsFactory, logger: Logger) -> MessageCounters {
        do {
            if let contents = try file.load() {
                let restored = MessageCounters.Snapshot(byName: contents.counts)
                logger.info("message counters restored from \(file.path): \(restored.total) messages since \(contents.since.formatted(.iso8601))")
                return MessageCounters(since: contents.since, restoring: restored, metrics: metrics)
            }
            logger.info("no saved message counters at \(file.path): counting from now")
        } catch {
            let aside = file.setAside()
            logger.error("message counters: \(error); counting from now\(aside.map { " (the old file is kept as \($0))" } ?? "")")
        }
        return MessageCounters(metrics: metrics)
    }

    public func run() async {
        var saved = counters.snapshot
        var failing = false
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                break
            }
            let current = counters.snapshot
            if current != saved, save(current, failing: &failing) { saved = current }
        }
        _ = save(counters.snapshot, failing: &failing)
    }

    /// Returns whether the file was written. Failures are logged once until a save works again.
    private func save(_ snapshot: MessageCounters.Snapshot, failing: inout Bool) -> Bool {
        do {
            try file.save(CountersFile.Contents(since: counters.since, saved: Date(), counts: snapshot))
            if failing { logger.notice("message counters saved to \(file.path) again") }
            failing = false
            return true
        } catch {
            if !failing { logger.error("cannot save the message counters to \(file.path): \(error); retrying every \(interval)") }
            failing = true
            return false
        }
    }
}
