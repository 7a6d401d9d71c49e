import Foundation

/// A correction's label.
public enum FeedbackLabel: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case spam
    case ham

    /// The class index the classifier uses (1 = spam).
    public var classIndex: Int { self == .spam ? 1 : 0 }
    public var other: FeedbackLabel { self == .spam ? .ham : .spam }
    public var description: String { rawValue }
}

/// What an operator can ask of the learning loop — the control socket's `learn`, `models`, `rollback`,
/// `pause-training`, `resume-training`, `train-now` and the learning part of `stats`. Implemented by
/// `Learning.LearningControl`; the service layer sees only this, as it sees models only as `ClassifierModel`.
public protocol LearningOperations: Sendable {
    /// Drops messages into the feedback folder for `label`; they go the way of every other correction.
    func learn(_ label: FeedbackLabel, messages: [FeedbackSubmission]) async throws -> LearnReceipt
    /// The stored classifier versions (newest first), which one serves, and refused candidates.
    func models() async throws -> ModelList
    /// Serves `version` (nil: the version before the serving one) from the next message on.
    func rollback(to version: String?) async throws -> RollbackReport
    func pauseTraining() async
    func resumeTraining() async
    /// Trains at the next chance without waiting for idleness (new feedback is still needed).
    func trainNow() async
    func learningStatus() async -> LearningStatus
}

/// One message handed to `learn`: its raw bytes and a name to recognise it by (a file name).
public struct FeedbackSubmission: Sendable, Codable, Equatable {
    public var name: String
    public var bytes: [UInt8]

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

public struct LearnReceipt: Sendable, Codable, Equatable {
    /// Dropped into the feedback folder, by submission name.
    public var queued: [String]
    /// Refused at once (not mail), by submission name, with the reason.
    public var refused: [String: String]

    public init(queued: [String], refused: [String: String]) {
        self.queued = queued
        self.refused = refused
    }
}

/// A classifier's figures on the data it was judged on.
public struct ModelFigures: Sendable, Codable, Equatable {
    public var accuracy: Double
    public var falsePositiveRate: Double
    public var count: Int

    public init(accuracy: Double, falsePositiveRate: Double, count: Int) {
        self.accuracy = accuracy
        self.falsePositiveRate = falsePositiveRate
        self.count = count
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
}

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

public struct RollbackReport: Sendable, Codable, Equatable {
    public var from: String?
    public var to: String
    /// Whether the running daemon serves it already (false offline: it takes effect on reload).
    public var applied: Bool

    public init(from: String?, to: String, applied: Bool) {
        self.from = from
        self.to = to
        self.applied = applied
    }
}

/// The learning part of `stats`.
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
    }

    public var enabled: Bool
    public var paused: Bool
    /// What the loop is doing: `idle`, `waiting for idle`, `training`, `paused for mail`, `paused`.
    public var activity: String
    public var feedback: Feedback
    public var lastRun: Run?
    public var servingVersion: String?
    /// When the serving version was created (its age is now minus this).
    public var servingCreated: Date?

    public init(enabled: Bool, paused: Bool, activity: String, feedback: Feedback, lastRun: Run?, servingVersion: String?, servingCreated: Date?) {
        self.enabled = enabled
        self.paused = paused
        self.activity = activity
        self.feedback = feedback
        self.lastRun = lastRun
        self.servingVersion = servingVersion
        self.servingCreated = servingCreated
    }
}
