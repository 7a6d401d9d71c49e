#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `ping`: the daemon answers.
public struct PingResult: Sendable, Equatable, Codable {
    public var pid: Int32
    public var uptimeSeconds: Double

    public init(pid: Int32, uptimeSeconds: Double) {
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
    }

    enum CodingKeys: String, CodingKey {
        case pid
        case uptimeSeconds = "uptime_seconds"
    }
}

/// `status`: one line's worth, for scripts and monitoring.
public struct StatusResult: Sendable, Equatable, Codable {
    public var pid: Int32
    public var started: Date
    public var uptimeSeconds: Double
    /// Nil while no classifier is loaded (mail passes unscanned).
    public var modelVersion: String?
    /// Messages counted since `since` (persisted across restarts).
    public var messages: Int
    public var since: Date
    /// Messages waiting for the model right now.
    public var inFlight: Int

    public init(pid: Int32, started: Date, uptimeSeconds: Double, modelVersion: String?, messages: Int, since: Date, inFlight: Int) {
        self.pid = pid
        self.started = started
        self.uptimeSeconds = uptimeSeconds
        self.modelVersion = modelVersion
        self.messages = messages
        self.since = since
        self.inFlight = inFlight
    }

    enum CodingKeys: String, CodingKey {
        case pid, started, messages, since
        case uptimeSeconds = "uptime_seconds"
        case modelVersion = "model_version"
        case inFlight = "in_flight"
    }
}

/// `reload`, when both the configuration and the classifier were taken.
public struct ReloadResult: Sendable, Equatable, Codable {
    public var modelVersion: String?
    public var previousModelVersion: String?

    public init(modelVersion: String?, previousModelVersion: String?) {
        self.modelVersion = modelVersion
        self.previousModelVersion = previousModelVersion
    }

    enum CodingKeys: String, CodingKey {
        case modelVersion = "model_version"
        case previousModelVersion = "previous_model_version"
    }
}

/// `stats`: everything `spamguardctl stats` shows.
public struct StatsReport: Sendable, Equatable, Codable {
    public var daemon: DaemonFigures
    /// Nil while no classifier is loaded.
    public var classifier: ClassifierFigures?
    public var messages: MessageFigures
    public var latency: LatencyFigures
    public var batches: BatchFigures
    /// The learning loop: feedback, the last training run, paused or not. Nil when the daemon runs without it.
    public var learning: LearningStatus?

    public init(daemon: DaemonFigures, classifier: ClassifierFigures?, messages: MessageFigures, latency: LatencyFigures, batches: BatchFigures,
                learning: LearningStatus? = nil) {
        self.daemon = daemon
        self.classifier = classifier
        self.messages = messages
        self.latency = latency
        self.batches = batches
        self.learning = learning
    }
}

public struct DaemonFigures: Sendable, Equatable, Codable {
    public var pid: Int32
    public var started: Date
    public var uptimeSeconds: Double
    public var residentMemoryBytes: Int

    public init(pid: Int32, started: Date, uptimeSeconds: Double, residentMemoryBytes: Int) {
        self.pid = pid
        self.started = started
        self.uptimeSeconds = uptimeSeconds
        self.residentMemoryBytes = residentMemoryBytes
    }

    enum CodingKeys: String, CodingKey {
        case pid, started
        case uptimeSeconds = "uptime_seconds"
        case residentMemoryBytes = "resident_memory_bytes"
    }
}

public struct ClassifierFigures: Sendable, Equatable, Codable {
    public var version: String
    /// When the classifier was trained, if its bundle says.
    public var created: Date?
    public var ageSeconds: Double?
    /// The base model's directory.
    public var base: String?
    /// SHA-256 of the base model's weights, which the classifier was trained on.
    public var baseSHA256: String?
    public var validation: ValidationFigures?

    public init(version: String, created: Date?, ageSeconds: Double?, base: String?, baseSHA256: String?, validation: ValidationFigures?) {
        self.version = version
        self.created = created
        self.ageSeconds = ageSeconds
        self.base = base
        self.baseSHA256 = baseSHA256
        self.validation = validation
    }

    enum CodingKeys: String, CodingKey {
        case version, created, base, validation
        case ageSeconds = "age_seconds"
        case baseSHA256 = "base_sha256"
    }
}

/// How the classifier did on its validation split when it was trained. Rates are fractions in 0…1.
public struct ValidationFigures: Sendable, Equatable, Codable {
    public var messages: Int
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var falsePositiveRate: Double
    public var rocAUC: Double?

    public init(messages: Int, accuracy: Double, precision: Double, recall: Double, f1: Double, falsePositiveRate: Double, rocAUC: Double?) {
        self.messages = messages
        self.accuracy = accuracy
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.falsePositiveRate = falsePositiveRate
        self.rocAUC = rocAUC
    }

    enum CodingKeys: String, CodingKey {
        case messages, accuracy, precision, recall, f1
        case falsePositiveRate = "false_positive_rate"
        case rocAUC = "roc_auc"
    }
}

/// Message counts since `since` — they survive restarts.
public struct MessageFigures: Sendable, Equatable, Codable {
    /// The outcomes in the order people read them; a daemon may report more.
    public static let outcomeOrder = ["ham", "tagged", "quarantined", "rejected", "skipped", "errors", "timeouts"]

    public var since: Date
    /// All messages, whatever their outcome.
    public var total: Int
    /// Messages the model scored (ham, tagged, quarantined, rejected).
    public var scanned: Int
    /// Outcome name → count and share of `total`.
    public var outcomes: [String: OutcomeFigure]

    public init(since: Date, total: Int, scanned: Int, outcomes: [String: OutcomeFigure]) {
        self.since = since
        self.total = total
        self.scanned = scanned
        self.outcomes = outcomes
    }
}

public struct OutcomeFigure: Sendable, Equatable, Codable {
    public var count: Int
    /// count / total, 0 when there are no messages.
    public var share: Double

    public init(count: Int, share: Double) {
        self.count = count
        self.share = share
    }
}

/// How long messages waited at end-of-message for their classification (queueing and the forward pass).
public struct LatencyFigures: Sendable, Equatable, Codable {
    /// Since the daemon started.
    public var sinceStart: LatencySummary
    /// The last five minutes (in 30-second steps).
    public var lastFiveMinutes: LatencySummary

    public init(sinceStart: LatencySummary, lastFiveMinutes: LatencySummary) {
        self.sinceStart = sinceStart
        self.lastFiveMinutes = lastFiveMinutes
    }

    enum CodingKeys: String, CodingKey {
        case sinceStart = "since_start"
        case lastFiveMinutes = "last_5_minutes"
    }
}

/// Percentiles in milliseconds (HdrHistogram, three significant digits); all 0 when `count` is 0.
public struct LatencySummary: Sendable, Equatable, Codable {
    public var count: Int
    public var p50Milliseconds: Double
    public var p95Milliseconds: Double
    public var p99Milliseconds: Double
    public var maxMilliseconds: Double

    public init(count: Int, p50Milliseconds: Double, p95Milliseconds: Double, p99Milliseconds: Double, maxMilliseconds: Double) {
        self.count = count
        self.p50Milliseconds = p50Milliseconds
        self.p95Milliseconds = p95Milliseconds
        self.p99Milliseconds = p99Milliseconds
        self.maxMilliseconds = maxMilliseconds
    }

    public static let empty = LatencySummary(count: 0, p50Milliseconds: 0, p95Milliseconds: 0, p99Milliseconds: 0, maxMilliseconds: 0)

    enum CodingKeys: String, CodingKey {
        case count
        case p50Milliseconds = "p50_ms"
        case p95Milliseconds = "p95_ms"
        case p99Milliseconds = "p99_ms"
        case maxMilliseconds = "max_ms"
    }
}

/// Forward passes since the daemon started, by how many messages shared them.
public struct BatchFigures: Sendable, Equatable, Codable {
    public var forwardPasses: Int
    /// Batch size (as a string: JSON object keys are strings) → forward passes of that size.
    public var sizes: [String: Int]

    public init(forwardPasses: Int, sizes: [String: Int]) {
        self.forwardPasses = forwardPasses
        self.sizes = sizes
    }

    enum CodingKeys: String, CodingKey {
        case sizes
        case forwardPasses = "forward_passes"
    }
}
