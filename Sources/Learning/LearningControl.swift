import Foundation
import Logging
import SpamguardService

/// The learning loop's operator face: `learn`, `models`, `rollback`, `pause-training`, `resume-training`,
/// `train-now` and the learning part of `stats`, as the control socket serves them. One actor, so that
/// operator requests are taken one at a time.
public actor LearningControl: LearningOperations {
    let folder: FeedbackFolder
    let catalog: ModelCatalog
    let pace: TrainingPace
    let board: LearningBoard
    let loop: LearningLoop
    let logger: Logger

    init(loop: LearningLoop, catalog: ModelCatalog, logger: Logger) {
        self.folder = loop.intake.folder
        self.catalog = catalog
        self.pace = loop.pace
        self.board = loop.board
        self.loop = loop
        self.logger = logger
    }

    public func learn(_ label: FeedbackLabel, messages: [FeedbackSubmission]) throws -> LearnReceipt {
        var receipt = LearnReceipt(queued: [], refused: [:])
        for message in messages {
            if let reason = MailCheck.rejection(of: message.bytes) {
                receipt.refused[message.name] = reason
            } else {
                receipt.queued.append(try folder.drop(message.bytes, label: label, name: message.name))
            }
        }
        logger.notice("learning: \(receipt.queued.count) messages submitted as \(label)\(receipt.refused.isEmpty ? "" : ", \(receipt.refused.count) refused (not mail)")")
        return receipt
    }

    public func models() -> ModelList {
        catalog.list(loop.ledger.state)
    }

    public func rollback(to version: String?) async throws -> RollbackReport {
        let (from, to) = try catalog.store.rollback(to: version)
        try loop.ledger.recordServing(ServingRecord(version: to, previous: from, reason: "rollback", time: Date()))
        logger.notice("learning: rollback from \(from ?? "none") to \(to)")
        await loop.swapServingModel()
        return RollbackReport(from: from, to: to, applied: loop.models?.currentModel?.version == to)
    }

    public func pauseTraining() {
        pace.pause()
        logger.notice("learning: training paused by the operator")
    }

    public func resumeTraining() {
        pace.resume()
        logger.notice("learning: training resumed by the operator")
    }

    public func trainNow() {
        board.requestTrainingNow()
        logger.notice("learning: training requested by the operator (not waiting for idleness)")
    }

    public func learningStatus() -> LearningStatus {
        var activity = board.activity
        if pace.isWaitingForMail { activity += ", paused for mail" } else if pace.isPaused { activity += ", paused" }
        return LearningStatus(state: loop.ledger.state, folder: folder, serving: catalog.servingCreated(),
                              paused: pace.isPaused, activity: activity)
    }
}

extension LearningStatus {
    /// The learning part of `stats`, from the ledger, the feedback folder and the serving version.
    public init(state: LedgerState, folder: FeedbackFolder, serving: (version: String, created: Date)?, paused: Bool, activity: String) {
        var feedback = Feedback()
        feedback.waiting = (try? folder.waiting().count) ?? 0
        feedback.untrained = state.untrained.count
        feedback.learned = state.learned
        feedback.duplicates = state.duplicates
        feedback.relabeled = state.relabeled
        feedback.rejected = state.rejected
        self.init(enabled: true, paused: paused, activity: activity, feedback: feedback, lastRun: state.lastRun.map(Run.init),
                  servingVersion: serving?.version, servingCreated: serving?.created)
    }
}

extension LearningStatus.Run {
    init(_ record: TrainingRunRecord) {
        self.init(id: record.id, started: record.started, seconds: record.seconds, examples: record.examples,
                  feedbackExamples: record.feedbackExamples, replayedExamples: record.replayedExamples,
                  outcome: record.outcome.rawValue, reason: record.reason, parent: record.parent, candidate: record.candidate)
    }
}
