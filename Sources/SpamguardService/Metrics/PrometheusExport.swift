import ControlProtocol
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
/// - `spamguard_classifier_created_timestamp_seconds` — when the serving classifier was trained (its age is
///   `time() - …`)
/// - `process_resident_memory_bytes`, `process_start_time_seconds` — the usual process gauges
///
/// With the learning loop (absent without it), from the same figures as the learning section of `stats`:
/// - `spamguard_feedback_messages{state}` — corrections `waiting` in the folder, `untrained` (taken in since the
///   last run), `learned`, `duplicates`, `relabeled`, `rejected` (the last four since the ledger began)
/// - `spamguard_training_paused` — 1 while an operator has paused training
/// - `spamguard_training_last_run_start_timestamp_seconds`, `…_duration_seconds`, `…_examples`, and
///   `spamguard_training_last_run_outcome{outcome}` (1 for `promoted`, `refused` or `failed`) — the last run
public final class PrometheusExport: Sendable {
    public let registry = PrometheusCollectorRegistry()
    public let factory: PrometheusMetricsFactory

    private let inFlight: CoreMetrics.Gauge
    private let residentMemory: CoreMetrics.Gauge
    private let startTime: CoreMetrics.Gauge
    private let classifierInfo: OptionalGauge
    private let classifierCreated: OptionalGauge
    private let feedback: [(state: String, figure: @Sendable (LearningStatus.Feedback) -> Int, gauge: OptionalGauge)]
    private let trainingPaused: OptionalGauge
    private let lastRunStart: OptionalGauge
    private let lastRunDuration: OptionalGauge
    private let lastRunExamples: OptionalGauge
    private let lastRunOutcome: OptionalGauge

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
        classifierInfo = OptionalGauge("spamguard_classifier_info", factory)
        classifierCreated = OptionalGauge("spamguard_classifier_created_timestamp_seconds", factory)
        let figures: [(String, @Sendable (LearningStatus.Feedback) -> Int)] = [
            ("waiting", \.waiting), ("untrained", \.untrained), ("learned", \.learned), ("duplicates", \.duplicates),
            ("relabeled", \.relabeled), ("rejected", \.rejected),
        ]
        feedback = figures.map { ($0.0, $0.1, OptionalGauge("spamguard_feedback_messages", factory)) }
        trainingPaused = OptionalGauge("spamguard_training_paused", factory)
        lastRunStart = OptionalGauge("spamguard_training_last_run_start_timestamp_seconds", factory)
        lastRunDuration = OptionalGauge("spamguard_training_last_run_duration_seconds", factory)
        lastRunExamples = OptionalGauge("spamguard_training_last_run_examples", factory)
        lastRunOutcome = OptionalGauge("spamguard_training_last_run_outcome", factory)
    }

    /// Brings the gauges up to date; call just before each scrape. `learning` is nil without the learning loop.
    public func refresh(inFlight messages: Int, classifierVersion: String?, classifierCreated: Date? = nil, learning: LearningStatus? = nil) {
        inFlight.record(messages)
        residentMemory.record(ProcessFacts.residentMemoryBytes())
        classifierInfo.show(classifierVersion.map { _ in 1 }, dimensions: classifierVersion.map { [("version", $0)] } ?? [])
        self.classifierCreated.show(classifierCreated?.timeIntervalSince1970)
        for (state, figure, gauge) in feedback {
            gauge.show(learning.map { Double(figure($0.feedback)) }, dimensions: [("state", state)])
        }
        trainingPaused.show(learning.map { $0.paused ? 1 : 0 })
        let run = learning?.lastRun
        lastRunStart.show(run?.started.timeIntervalSince1970)
        lastRunDuration.show(run?.seconds)
        lastRunExamples.show(run.map { Double($0.examples) })
        lastRunOutcome.show(run.map { _ in 1 }, dimensions: run.map { [("outcome", $0.outcome)] } ?? [])
    }

    /// Brings the gauges up to date from the daemon's serving classifier and learning loop.
    public func refresh(inFlight messages: Int, classifier: (any ClassifierModel)?, learning: LearningStatus?) {
        refresh(inFlight: messages, classifierVersion: classifier?.version, classifierCreated: classifier?.facts.created, learning: learning)
    }

    /// The text exposition format, version 0.0.4.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

/// A gauge that may be absent (no series at all, rather than a misleading 0) and whose labels may change: made
/// when there is a value, made again when its labels change, destroyed when there is none.
final class OptionalGauge: Sendable {
    private let label: String
    private let factory: PrometheusMetricsFactory
    private let current = Mutex<(dimensions: [String], gauge: CoreMetrics.Gauge)?>(nil)

    init(_ label: String, _ factory: PrometheusMetricsFactory) {
        self.label = label
        self.factory = factory
    }

    func show(_ value: Double?, dimensions: [(String, String)] = []) {
        let key = dimensions.flatMap { [$0.0, $0.1] }
        current.withLock { current in
            if let existing = current, value == nil || existing.dimensions != key {
                existing.gauge.destroy()
                current = nil
            }
            guard let value else { return }
            if current == nil {
                current = (key, CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory))
            }
            current?.gauge.record(value)
        }
    }
}
