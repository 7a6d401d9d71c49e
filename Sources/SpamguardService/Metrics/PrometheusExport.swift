import CoreMetrics
import Prometheus
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The daemon's Prometheus registry, and the swift-metrics factory that feeds it. Nothing is bootstrapped
/// globally: the daemon hands `factory` to what it measures (`MessageCounters`, `LatencyStats`).
///
/// Series:
/// - `spamguard_messages_total{outcome}` — counter, the same totals as `spamguardctl stats` (restored at start)
/// - `spamguard_classify_seconds` — histogram of end-of-message waits since the daemon started
/// - `spamguard_messages_in_flight` — gauge, messages waiting for the model
/// - `spamguard_classifier_info{version}` — 1 for the classifier serving (absent while none is loaded)
/// - `process_resident_memory_bytes`, `process_start_time_seconds` — the usual process gauges
public final class PrometheusExport: Sendable {
    public let registry = PrometheusCollectorRegistry()
    public let factory: PrometheusMetricsFactory

    private let inFlight: CoreMetrics.Gauge
    private let residentMemory: CoreMetrics.Gauge
    private let startTime: CoreMetrics.Gauge
    private let classifierInfo = Mutex<(version: String, gauge: CoreMetrics.Gauge)?>(nil)

    /// Upper bounds of `spamguard_classify_seconds`, from a 1 ms cache hit to the longest deadlines.
    public static let classifyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    public init(process: ProcessFacts) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["spamguard_classify_seconds"] = Self.classifyBuckets
        self.factory = factory
        inFlight = CoreMetrics.Gauge(label: "spamguard_messages_in_flight", factory: factory)
        residentMemory = CoreMetrics.Gauge(label: "process_resident_memory_bytes", factory: factory)
        startTime = CoreMetrics.Gauge(label: "process_start_time_seconds", factory: factory)
        startTime.record(process.started.timeIntervalSince1970)
    }

    /// Brings the gauges up to date; call just before each scrape.
    public func refresh(inFlight messages: Int, classifierVersion: String?) {
        inFlight.record(messages)
        residentMemory.record(ProcessFacts.residentMemoryBytes())
        classifierInfo.withLock { current in
            guard current?.version != classifierVersion else { return }
            current?.gauge.destroy()
            current = classifierVersion.map { version in
                let gauge = CoreMetrics.Gauge(label: "spamguard_classifier_info", dimensions: [("version", version)], factory: factory)
                gauge.record(1)
                return (version, gauge)
            }
        }
    }

    /// The text exposition format, version 0.0.4.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
