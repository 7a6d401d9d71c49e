#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The learning loop's part of the protocol: `learn`, `models`, `rollback`, `pause-training`,
// `resume-training`, `train-now`, and the `learning` section of `stats`. The same types are what
// `SpamguardService.LearningOperations` speaks, and what `spamguardctl models --json` prints.

/// A correction's label.
public enum FeedbackLabel: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case spam
    case ham

    /// The class index the classifier uses (1 = spam).
    public var classIndex: Int { self == .spam ? 1 : 0 }
    public var other: FeedbackLabel { self == .spam ? .ham : .spam }
    public var description: String { rawValue }
}

/// A request's `args`: each field belongs to one operation and is ignored by the others.
public struct ControlArguments: Sendable, Equatable, Codable {
    /// `rollback`: the version to serve (absent: the one before the serving one).
    public var version: String?
    /// `learn`: what the messages are.
    public var label: FeedbackLabel?
    /// `learn`: the messages.
    public var messages: [FeedbackSubmission]?

    public init(version: String? = nil, label: FeedbackLabel? = nil, messages: [FeedbackSubmission]? = nil) {
        self.version = version
        self.label = label
        self.messages = messages
    }

    public static func rollback(to version: String?) -> Self { Self(version: version) }
    public static func learn(_ label: FeedbackLabel, _ messages: [FeedbackSubmission]) -> Self { Self(label: label, messages: messages) }
}

/// One message handed to `learn`: its raw bytes (base64 on the wire, as `data`) and a name to recognise it by
/// (a file name).
public struct FeedbackSubmission: Sendable, Codable, Equatable {
    public var name: String
    public var bytes: [UInt8]

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }

    /// How many bytes a message of `count` bytes takes on the wire (base64, without the name).
    public static func encodedSize(of count: Int) -> Int { (count + 2) / 3 * 4 }

    enum CodingKeys: String, CodingKey {
        case name
        case bytes = "data"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        let text = try container.decode(String.self, forKey: .bytes)
        guard let data = Data(base64Encoded: text) else {
            throw DecodingError.dataCorruptedError(forKey: .bytes, in: container, debugDescription: "not base64")
        }
        bytes = Array(data)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(Data(bytes).base64EncodedString(), forKey: .bytes)
    }
}

/// `learn`: what became of each submitted message.
public struct LearnReceipt: Sendable, Codable, Equatable {
    /// Dropped into the feedback folder: where (`spam/learn-…`), in the order submitted.
    public var queued: [String]
    /// Refused at once (not mail, too large), by submission name, with the reason.
    public var refused: [String: String]

    public init(queued: [String], refused: [String: String]) {
        self.queued = queued
        self.refused = refused
    }
}

/// A classifier's figures on the data it was judged on. Rates are fractions in 0…1.
public struct ModelFigures: Sendable, Codable, Equatable {
    public var accuracy: Double
    public var falsePositiveRate: Double
    public var count: Int

    public init(accuracy: Double, falsePositiveRate: Double, count: Int) {
        self.accuracy = accuracy
        self.falsePositiveRate = falsePositiveRate
        self.count = count
    }

    enum CodingKeys: String, CodingKey {
        case accuracy, count
        case falsePositiveRate = "false_positive_rate"
    }
}

public struct ModelVersion: Sendable, Codable, Equatable {
    public var version: String
    public var created: Date
    /// The version it was finetuned from (nil: trained by `spamguardctl train`).
    public var parent: String?
    public var serving: Bool
    /// On the held-out data of its training run (validation, plus held-out feedback for the loop's versions).
    public var heldOut: ModelFigures?
    /// On the new feedback of the run that made it.
    public var feedback: ModelFigures?

    public init(version: String, created: Date, parent: String?, serving: Bool, heldOut: ModelFigures?, feedback: ModelFigures?) {
        self.version = version
        self.created = created
        self.parent = parent
        self.serving = serving
        self.heldOut = heldOut
        self.feedback = feedback
    }

    enum CodingKeys: String, CodingKey {
        case version, created, parent, serving, feedback
        case heldOut = "held_out"
    }
}

/// `models`: the stored classifier versions, which one serves, and refused candidates.
public struct ModelList: Sendable, Codable, Equatable {
    /// Stored versions, newest first.
    public var versions: [ModelVersion]
    /// Candidates the quality gate refused, kept for inspection, newest first, with the reason.
    public var refused: [RefusedCandidate]
    /// The bundle serving when the store has no versions yet (`[model] classifier`).
    public var configured: String?

    public init(versions: [ModelVersion], refused: [RefusedCandidate], configured: String?) {
        self.versions = versions
        self.refused = refused
        self.configured = configured
    }
}

public struct RefusedCandidate: Sendable, Codable, Equatable {
    public var version: String
    public var directory: String
    public var reason: String

    public init(version: String, directory: String, reason: String) {
        self.version = version
        self.directory = directory
        self.reason = reason
    }
}

/// `rollback`: the switch made.
public struct RollbackReport: Sendable, Codable, Equatable {
    public var from: String?
    public var to: String
    /// Whether the running daemon serves it already (false offline: it takes effect when the daemon starts or
    /// reloads).
    public var applied: Bool

    public init(from: String?, to: String, applied: Bool) {
        self.from = from
        self.to = to
        self.applied = applied
    }
}

/// The learning section of `stats`, and the result of `pause-training`, `resume-training` and `train-now`.
public struct LearningStatus: Sendable, Codable, Equatable {
    public struct Feedback: Sendable, Codable, Equatable {
        /// Files in spam/ and ham/ not taken in yet.
        public var waiting = 0
        /// Labels taken in since the last training run: what the next run learns.
        public var untrained = 0
        /// Distinct messages learned (ever), the same message again counted once.
        public var learned = 0
        public var duplicates = 0
        /// Messages whose label a later drop changed.
        public var relabeled = 0
        public var rejected = 0

        public init() {}
    }

    public struct Run: Sendable, Codable, Equatable {
        public var id: Int
        public var started: Date
        public var seconds: Double
        /// Examples trained on: feedback plus replayed original training data.
        public var examples: Int
        public var feedbackExamples: Int
        public var replayedExamples: Int
        /// `promoted`, `refused` or `failed`.
        public var outcome: String
        public var reason: String
        public var parent: String
        public var candidate: String?

        public init(id: Int, started: Date, seconds: Double, examples: Int, feedbackExamples: Int, replayedExamples: Int,
                    outcome: String, reason: String, parent: String, candidate: String?) {
            self.id = id
            self.started = started
            self.seconds = seconds
            self.examples = examples
            self.feedbackExamples = feedbackExamples
            self.replayedExamples = replayedExamples
            self.outcome = outcome
            self.reason = reason
            self.parent = parent
            self.candidate = candidate
        }

        enum CodingKeys: String, CodingKey {
            case id, started, seconds, examples, outcome, reason, parent, candidate
            case feedbackExamples = "feedback_examples"
            case replayedExamples = "replayed_examples"
        }
    }

    public var enabled: Bool
    /// An operator paused training (`pause-training`); it stays paused across restarts until `resume-training`.
    public var paused: Bool
    /// `train-now` was asked and no run has started since.
    public var trainNowRequested: Bool
    /// What the loop is doing: `idle`, `waiting for idle`, `training (run N)`, with `, paused for mail` or
    /// `, paused` while a checkpoint holds training.
    public var activity: String
    public var feedback: Feedback
    public var lastRun: Run?
    public var servingVersion: String?
    /// When the serving version was created.
    public var servingCreated: Date?
    /// How old the serving version was when this status was made.
    public var servingAgeSeconds: Double?

    public init(enabled: Bool, paused: Bool, trainNowRequested: Bool = false, activity: String, feedback: Feedback, lastRun: Run?,
                servingVersion: String?, servingCreated: Date?, servingAgeSeconds: Double? = nil) {
        self.enabled = enabled
        self.paused = paused
        self.trainNowRequested = trainNowRequested
        self.activity = activity
        self.feedback = feedback
        self.lastRun = lastRun
        self.servingVersion = servingVersion
        self.servingCreated = servingCreated
        self.servingAgeSeconds = servingAgeSeconds
    }

    enum CodingKeys: String, CodingKey {
        case enabled, paused, activity, feedback
        case trainNowRequested = "train_now_requested"
        case lastRun = "last_run"
        case servingVersion = "serving_version"
        case servingCreated = "serving_created"
        case servingAgeSeconds = "serving_age_seconds"
    }
}
