import ControlProtocol

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The running daemon's answers to the control socket: figures from the filter, the model actor and the
/// process; reloads through the `ReloadService`; the learning loop's operations through `learning`.
struct DaemonControl: ControlOperations {
    let process: ProcessFacts
    let filter: MessageFilter
    let models: ModelActor
    let reloader: ReloadService
    let learning: (any LearningOperations)?

    func ping() async -> PingResult {
        PingResult(pid: process.pid, uptimeSeconds: process.uptimeSeconds)
    }

    func status() async -> StatusResult {
        StatusResult(
            pid: process.pid, started: process.started, uptimeSeconds: process.uptimeSeconds,
            modelVersion: models.currentModel?.version, messages: filter.counters.snapshot.total,
            since: filter.counters.since, inFlight: filter.messagesInFlight
        )
    }

    func stats() async -> StatsReport {
        let modelStatus = await models.status()
        let now = Date()
        return StatsReport(
            daemon: DaemonFigures(
                pid: process.pid, started: process.started, uptimeSeconds: process.uptimeSeconds,
                residentMemoryBytes: ProcessFacts.residentMemoryBytes()
            ),
            classifier: models.currentModel.map { ClassifierFigures(version: $0.version, facts: $0.facts, now: now) },
            messages: MessageFigures(filter.counters.snapshot, since: filter.counters.since),
            latency: filter.latency.figures(),
            batches: BatchFigures(modelStatus.batchSizes),
            learning: await learning?.learningStatus()
        )
    }

    func reload() async -> Result<ReloadResult, ControlFailure> {
        guard let report = await reloader.reloadAndWait(.control) else {
            return .failure(ControlFailure(.unavailable, "spamguard is stopping"))
        }
        if let refusal = report.refusal {
            return .failure(ControlFailure(report.configurationApplied ? .modelRefused : .configurationRefused, refusal))
        }
        return .success(ReloadResult(modelVersion: report.modelVersion, previousModelVersion: report.previousModelVersion))
    }
}
