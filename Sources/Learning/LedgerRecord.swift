import ControlProtocol
import Foundation
import SpamguardService
import Training

/// What happened to one claimed feedback message.
public enum MessageOutcome: String, Sendable, Codable, Equatable {
    /// A message not seen before.
    case learned
    /// The same message with the same label again: counted once.
    case duplicate
    /// The same message with the other label: the newest label wins.
    case relabeled
}

/// A feedback message taken in: hashed, labeled, filed under `learned/`.
public struct MessageRecord: Sendable, Codable, Equatable {
    public var claim: String
    public var hash: String
    public var label: FeedbackLabel
    public var origin: String
    public var time: Date
    public var outcome: MessageOutcome
}

/// A feedback file that is not mail, filed under `rejected/` with the reason.
public struct RejectionRecord: Sendable, Codable, Equatable {
    public var claim: String
    public var label: FeedbackLabel
    public var origin: String
    public var reason: String
    public var time: Date
}

/// Learned messages whose files retention removed: they no longer take part in training.
public struct ExpiryRecord: Sendable, Codable, Equatable {
    public var hashes: [String]
    public var time: Date
}

/// One finetuning run of the learning loop and what the quality gate made of it.
public struct TrainingRunRecord: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        case promoted, refused, failed
    }

    public var id: Int
    public var started: Date
    public var seconds: Double
    /// The serving version the candidate was finetuned from.
    public var parent: String
    public var candidate: String?
    public var outcome: Outcome
    /// Why it was promoted or refused, or what failed.
    public var reason: String
    /// Examples trained on: feedback plus replayed original training data.
    public var examples: Int
    public var feedbackExamples: Int
    public var replayedExamples: Int
    /// New feedback held out of training to judge the candidate on.
    public var heldOutFeedback: Int
    public var before: QualityGate.Evaluation?
    public var after: QualityGate.Evaluation?
    /// How the candidate's held-out verdicts differed from the serving classifier's (absent in older ledgers).
    public var heldOutChanges: HeldOutChanges?
    /// The labels the run learned from (content hashes). A promoted or refused run uses them up: they are not
    /// new any more, unless a later drop relabels them. A failed run uses nothing up.
    public var consumedSpam: [String]
    public var consumedHam: [String]

    public init(id: Int, started: Date, seconds: Double, parent: String, candidate: String?, outcome: Outcome, reason: String,
                examples: Int, feedbackExamples: Int, replayedExamples: Int, heldOutFeedback: Int,
                before: QualityGate.Evaluation?, after: QualityGate.Evaluation?, heldOutChanges: HeldOutChanges? = nil,
                consumedSpam: [String], consumedHam: [String]) {
        self.id = id
        self.started = started
        self.seconds = seconds
        self.parent = parent
        self.candidate = candidate
        self.outcome = outcome
        self.reason = reason
        self.examples = examples
        self.feedbackExamples = feedbackExamples
        self.replayedExamples = replayedExamples
        self.heldOutFeedback = heldOutFeedback
        self.before = before
        self.after = after
        self.heldOutChanges = heldOutChanges
        self.consumedSpam = consumedSpam
        self.consumedHam = consumedHam
    }
}

/// The serving version changed: a promotion, a rollback, or a change found at start.
public struct ServingRecord: Sendable, Codable, Equatable {
    public var version: String
    public var previous: String?
    public var reason: String
    public var time: Date

    public init(version: String, previous: String?, reason: String, time: Date) {
        self.version = version
        self.previous = previous
        self.reason = reason
        self.time = time
    }
}

/// One line of the ledger: `{"kind": "message", …}`.
public enum LedgerRecord: Sendable, Equatable, Codable {
    case message(MessageRecord)
    case rejection(RejectionRecord)
    case expiry(ExpiryRecord)
    case run(TrainingRunRecord)
    case serving(ServingRecord)

    private enum Kind: String, Codable {
        case message, rejection, expiry, run, serving
    }

    private enum CodingKeys: String, CodingKey {
        case kind
    }

    public init(from decoder: any Decoder) throws {
        let kind = try decoder.container(keyedBy: CodingKeys.self).decode(Kind.self, forKey: .kind)
        switch kind {
        case .message: self = .message(try MessageRecord(from: decoder))
        case .rejection: self = .rejection(try RejectionRecord(from: decoder))
        case .expiry: self = .expiry(try ExpiryRecord(from: decoder))
        case .run: self = .run(try TrainingRunRecord(from: decoder))
        case .serving: self = .serving(try ServingRecord(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .message(let record):
            try container.encode(Kind.message, forKey: .kind)
            try record.encode(to: encoder)
        case .rejection(let record):
            try container.encode(Kind.rejection, forKey: .kind)
            try record.encode(to: encoder)
        case .expiry(let record):
            try container.encode(Kind.expiry, forKey: .kind)
            try record.encode(to: encoder)
        case .run(let record):
            try container.encode(Kind.run, forKey: .kind)
            try record.encode(to: encoder)
        case .serving(let record):
            try container.encode(Kind.serving, forKey: .kind)
            try record.encode(to: encoder)
        }
    }
}
