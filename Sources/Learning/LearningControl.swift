import ControlProtocol
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
    /// Present while an operator has paused training, so that a restart keeps it paused.
    let pausedMarker: String
    let logger: Logger

    init(loop: LearningLoop, catalog: ModelCatalog, pausedMarker: String, logger: Logger) {
        self.folder = loop.intake.folder
        self.catalog = catalog
        self.pace = loop.pace
        self.board = loop.board
        self.loop = loop
        self.pausedMarker = pausedMarker
        self.logger = logger
    }

    public func learn(_ label: FeedbackLabel, messages: [FeedbackSubmission]) throws -> LearnReceipt {
        var receipt = LearnReceipt(queued: [], refused: [:])
        for message in messages {
            if let reason = MailCheck.submissionRefusal(of: message.bytes, maxBytes: loop.intake.maxMessageBytes) {
                receipt.refused[message.name] = reason
            } else {
                receipt.queued.append(try folder.drop(message.bytes, label: label, name: message.name))
            }
        }
        logger.notice("learning: \(receipt.queued.count) messages submitted as \(label)\(receipt.refused.isEmpty ? "" : ", \(receipt.refused.count) refused")")
        return receipt
    }

    public func models() -> ModelList {
        catalog.list(loop.ledger.state)
    }

    public func rollback(to version: String?) async throws -> RollbackReport {
        let from: String?, to: String
        do {
            (from, to) = try catalog.store.rollback(to: version)
        } catch let error as BundleStore.StoreError {
            throw ControlFailure(.rollbackRefused, "\(error)")
        }
        try loop.ledger.recordServing(ServingRecord(version: to, previous: from, reason: "rollback", time: Date()))
        logger.notice("learning: rollback from \(from ?? "none") to \(to)")
        await loop.swapServingModel()
        return RollbackReport(from: from, to: to, applied: loop.models?.currentModel?.version == to)
    }

    public func pauseTraining() throws {
        try FileOperations.writeDurably([], to: pausedMarker)
        pace.pause()
        logger.notice("learning: training paused by the operator")
    }

    public func resumeTraining() throws {
        pace.resume()
        if FileOperations.kind(pausedMarker) != .missing { try FileOperations.remove(pausedMarker) }
        logger.notice("learning: training resumed by the operator")
    }

    public func trainNow() {
        board.requestTrainingNow()
        logger.notice("learning: training requested by the operator (not waiting for idleness)")
    }

    public func learningStatus() -> LearningStatus {
        var activity = board.activity
        if pace.isHeldByPause { activity += ", paused" } else if pace.isWaitingForMail { activity += ", paused for mail" }
        return LearningStatus(state: loop.ledger.state, folder: folder, serving: catalog.servingCreated(), paused: pace.isPaused,
                              trainNowRequested: board.trainingNowRequested, activity: activity)
    }
}

extension LearningStatus {
    /// The learning part of `stats`, from the ledger, the feedback folder and the serving version.
    public init(state: LedgerState, folder: FeedbackFolder, serving: (version: String, created: Date)?, paused: Bool,
                trainNowRequested: Bool = false, activity: String, now: Date = Date()) {
        var feedback = Feedback()
        feedback.waiting = (try? folder.waiting().count) ?? 0
        feedback.untrained = state.untrained.count
        feedback.learned = state.learned
        feedback.duplicates = state.duplicates
        feedback.relabeled = state.relabeled
        feedback.rejected = state.rejected
        self.init(enabled: true, paused: paused, trainNowRequested: trainNowRequested, activity: activity, feedback: feedback,
                  lastRun: state.lastRun.map(Run.init), servingVersion: serving?.version, servingCreated: serving?.created,
                  servingAgeSeconds: serving.map { now.timeIntervalSince($0.created) })
    }
}

extension LearningStatus.Run {
    init(_ record: TrainingRunRecord) {
        self.init(id: record.id, started: record.started, seconds: record.seconds, examples: record.examples,
                  feedbackExamples: record.feedbackExamples, replayedExamples: record.replayedExamples,
                  outcome: record.outcome.rawValue, reason: record.reason, parent: record.parent, candidate: record.candidate)
    }
}
