import ControlProtocol

/// What an operator can ask of the learning loop — the control socket's `learn`, `models`, `rollback`,
/// `pause-training`, `resume-training`, `train-now` and the learning section of `stats`. Implemented by
/// `Learning.LearningControl`; the service layer sees only this, as it sees models only as `ClassifierModel`.
/// The types are the protocol's own (`ControlProtocol/Learning.swift`).
public protocol LearningOperations: Sendable {
    /// Drops messages into the feedback folder for `label`; they go the way of every other correction.
    func learn(_ label: FeedbackLabel, messages: [FeedbackSubmission]) async throws -> LearnReceipt
    /// The stored classifier versions (newest first), which one serves, and refused candidates.
    func models() async throws -> ModelList
    /// Serves `version` (nil: the version before the serving one) from the next message on.
    func rollback(to version: String?) async throws -> RollbackReport
    /// Holds training (a run in progress at its next step) until `resumeTraining`, across restarts too.
    func pauseTraining() async throws
    func resumeTraining() async throws
    /// Trains at the next chance without waiting for idleness (new feedback is still needed; not while paused).
    func trainNow() async
    func learningStatus() async -> LearningStatus
}
