import ControlProtocol

/// What the control socket can ask of the daemon, one method per operation. `ControlResponder` decodes,
/// checks and encodes; an implementation only answers. A new operation is a case in `ControlOperation`,
/// a method here, and a line in `ControlResponder.perform`. The learning loop's operations go to `learning`.
public protocol ControlOperations: Sendable {
    func ping() async -> PingResult
    func status() async -> StatusResult
    func stats() async -> StatsReport
    /// Re-reads the configuration and the classifier; a refusal says why and what keeps serving.
    func reload() async -> Result<ReloadResult, ControlFailure>
    /// The learning loop's operator face; nil when the daemon runs without it (`learning_off`).
    var learning: (any LearningOperations)? { get }
}
