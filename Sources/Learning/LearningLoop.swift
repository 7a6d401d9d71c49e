import ControlProtocol
import Foundation
import Logging
import ServiceLifecycle
import SpamguardService
import Synchronization
import Training

/// Where the learning loop keeps its files, from the configuration.
public struct LearningPaths: Sendable, Equatable {
    /// `[feedback] dir`: spam/, ham/, claimed/, learned/, rejected/.
    public var feedback: String
    /// Versioned classifier bundles and the `current` link (`<state.dir>/classifiers`).
    public var store: String
    /// `<state.dir>/learning/ledger.jsonl`.
    public var ledger: String
    /// The frozen-prefix feature cache, shared with `spamguardctl train --cache-dir` (`<state.dir>/feature-cache`).
    public var featureCache: String
    /// Present while an operator has paused training (`<state.dir>/learning/training-paused`).
    public var pausedMarker: String

    public init(_ configuration: Configuration) {
        feedback = configuration.feedback.directory
        store = configuration.stateDirectory + "/classifiers"
        ledger = configuration.stateDirectory + "/learning/ledger.jsonl"
        featureCache = configuration.stateDirectory + "/feature-cache"
        pausedMarker = configuration.stateDirectory + "/learning/training-paused"
    }
}

/// What the loop is doing, for `stats`, and the operator's `train-now` request. Shared by the loop and
/// `LearningControl`.
final class LearningBoard: Sendable {
    private struct State {
        var activity = "starting"
        var trainNow = false
        /// Counts `train-now` requests, so that one made during an intake is not withdrawn by it.
        var trainNowRequests = 0
    }

    private let state = Mutex(State())

    var activity: String {
        get { state.withLock { $0.activity } }
        set { state.withLock { $0.activity = newValue } }
    }

    func requestTrainingNow() {
        state.withLock {
            $0.trainNow = true
            $0.trainNowRequests += 1
        }
    }

    var trainingNowRequested: Bool { state.withLock { $0.trainNow } }
    var trainingNowRequests: Int { state.withLock { $0.trainNowRequests } }
    func clearTrainingNow() { state.withLock { $0.trainNow = false } }

    /// Withdraws a `train-now` request unless another came after `requests` (what `trainingNowRequests` was).
    func withdrawTrainingNow(asOf requests: Int) {
        state.withLock { if $0.trainNowRequests == requests { $0.trainNow = false } }
    }
}

/// The learning loop, run by the daemon's `ServiceGroup`: takes corrections in from the feedback folder, and
/// when the daemon has been idle for `idle_seconds` with at least `min_new_examples` new labels waiting, it
/// finetunes a candidate from the serving classifier (`CandidateTraining`), judges it (`QualityGate`), and
/// either promotes it (`BundleStore`, then the model actor swaps it in between messages) or keeps it aside
/// with the reason in the ledger and the log.
///
/// Every blocking step runs on the `LearningThread` (nice 19); training steps aside while mail is in
/// progress (`TrainingPace`). On graceful shutdown a run in progress stops at its next step; its labels stay
/// new for the next start.
public final class LearningLoop: Service, Sendable {
    public struct Settings: Sendable, Equatable {
        public var idle: Duration
        public var minNewExamples: Int
        public var keepVersions: Int
        public var keepCandidates = 3
        public var retention: Duration
        public var holdoutPercent: Int
        public var replayRatio: Double
        /// `[feedback] max_examples_per_run`; nil when 0 (no bound).
        public var maxExamples: Int?
        /// `[feedback] epochs_per_run`; nil when 0 (the epochs the serving bundle's line was trained with).
        public var epochs: Int?
        public var gate: QualityGate
        /// `[model] base` and `[model] classifier` (the bundle serving until the store has versions).
        public var location: ModelLocation
        public var featureCache: String?

        public init(_ configuration: Configuration, paths: LearningPaths) {
            let feedback = configuration.feedback
            idle = .milliseconds(Int64(feedback.idleSeconds * 1000))
            minNewExamples = feedback.minNewExamples
            keepVersions = feedback.keepVersions
            retention = .seconds(feedback.retentionDays * 86400)
            holdoutPercent = feedback.holdoutPercent
            replayRatio = feedback.replayRatio
            maxExamples = feedback.maxExamplesPerRun > 0 ? feedback.maxExamplesPerRun : nil
            epochs = feedback.epochsPerRun > 0 ? feedback.epochsPerRun : nil
            gate = QualityGate(maxAccuracyDrop: feedback.maxAccuracyDrop, maxFalsePositiveRise: feedback.maxFalsePositiveRise,
                               confidence: feedback.gateConfidence)
            location = configuration.model.location
            featureCache = paths.featureCache
        }
    }

    let settings: Settings
    let intake: FeedbackIntake
    let store: BundleStore
    let pace: TrainingPace
    let board: LearningBoard
    let models: ModelActor?
    let loader: any ClassifierLoader
    let activity: MailActivity?
    let logger: Logger
    /// Finetuning and what goes with it (loading, writing, promoting).
    private let thread = LearningThread()
    /// Feedback intake and retention, so that files are taken in while a run trains.
    private let intakeThread = LearningThread()
    private let failures = Mutex((count: 0, notBefore: ContinuousClock.now))
    /// A run is in progress (at most one at a time).
    private let training = Mutex(false)

    var ledger: Ledger { intake.ledger }

    init(settings: Settings, intake: FeedbackIntake, store: BundleStore, pace: TrainingPace, board: LearningBoard,
         models: ModelActor?, loader: any ClassifierLoader, activity: MailActivity?, logger: Logger) {
        self.settings = settings
        self.intake = intake
        self.store = store
        self.pace = pace
        self.board = board
        self.models = models
        self.loader = loader
        self.activity = activity
        self.logger = logger
    }

    deinit {
        thread.stop()
        intakeThread.stop()
    }

    public func run() async throws {
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await loop()
        } onCancelOrGracefulShutdown: { [pace] in
            pace.cancel()
        }
        board.activity = "stopped"
    }

    /// How often the feedback folder is looked at (and idleness checked).
    var tick: Duration { min(.seconds(1), max(.milliseconds(50), settings.idle / 4)) }

    /// Takes feedback in every tick — also while a run trains, on a thread of its own, so that dropped files are
    /// claimed within a tick whatever else happens — and starts a run when it is time and none is running.
    private func loop() async throws {
        try await recoverAtStart()
        await withDiscardingTaskGroup { group in
            var lastRetention = ContinuousClock.now - .seconds(86400)
            while !pace.isCancelled, !Task.isShuttingDownGracefully {
                let requests = board.trainingNowRequests
                await takeIn()
                // Everything waiting is taken in and nothing is new: a `train-now` from before has nothing to learn
                // and lapses, rather than start a run on the next single correction.
                if !training.withLock({ $0 }), ledger.state.untrained.isEmpty { board.withdrawTrainingNow(asOf: requests) }
                if lastRetention.duration(to: .now) > .seconds(3600) {
                    lastRetention = .now
                    await expireOldFiles()
                }
                if !training.withLock({ $0 }) {
                    if shouldTrain() {
                        training.withLock { $0 = true }
                        group.addTask {
                            await self.trainOnce()
                            self.training.withLock { $0 = false }
                        }
                    } else {
                        board.activity = pace.isPaused ? "paused" : ledger.state.untrained.isEmpty ? "idle" : "waiting for idle"
                    }
                }
                try? await Task.sleep(for: tick)
            }
        }
    }

    /// Repairs what a crash left: half-written bundles, claims without an outcome, a serving version the
    /// ledger does not know about.
    private func recoverAtStart() async throws {
        let (store, intake, ledger, logger) = (store, intake, ledger, logger)
        try await thread.run {
            try intake.folder.prepare()
            let recovery = try store.recover()
            if !recovery.removedStaging.isEmpty || !recovery.removedIncomplete.isEmpty {
                logger.notice("learning: removed \(recovery.removedStaging.count + recovery.removedIncomplete.count) half-written bundles left by a crash")
            }
            if let version = recovery.repointedTo {
                logger.warning("learning: the current link named no complete version; now serving \(version)")
            }
            let report = try intake.recover()
            if report.total > 0 { logger.notice("learning: finished \(report.total) feedback claims a restart interrupted") }
            if let serving = store.currentVersion, ledger.state.lastServing?.version != serving {
                try ledger.recordServing(ServingRecord(version: serving, previous: ledger.state.lastServing?.version,
                                                       reason: "serving at start", time: Date()))
            }
        }
        let state = ledger.state
        logger.notice("""
            learning: feedback in \(intake.folder.root): \(state.learned) learned, \(state.untrained.count) new since the last run, \
            \(state.rejected) rejected; retraining after \(settings.idle) idle with at least \(settings.minNewExamples) new
            """)
    }

    private func takeIn() async {
        let intake = intake
        do {
            let report = try await intakeThread.run { try intake.takeIn(limit: 1000) }
            if report.total > 0 {
                logger.info("learning: took in \(report.learned) new, \(report.relabeled) relabeled, \(report.duplicates) duplicate, \(report.rejected) rejected feedback messages")
            }
        } catch {
            logger.error("learning: feedback intake failed: \(error)")
        }
    }

    private func expireOldFiles() async {
        let (intake, cutoff) = (intake, Date(timeIntervalSinceNow: -Double(settings.retention.components.seconds)))
        do {
            _ = try await intakeThread.run { try intake.expire(before: cutoff) }
        } catch {
            logger.error("learning: retention failed: \(error)")
        }
    }

    /// Idle long enough (or asked to train now), enough new labels, not paused, not backing off from a failure.
    func shouldTrain() -> Bool {
        guard !pace.isPaused, failures.withLock({ $0.notBefore }) <= .now else { return false }
        let forced = board.trainingNowRequested
        let untrained = ledger.state.untrained.count
        guard untrained >= (forced ? 1 : settings.minNewExamples) else { return false }
        return forced || (activity?.idleFor ?? .seconds(Int64.max / 2)) >= settings.idle
    }

    /// The bundle serving now: the store's current version, or the configured classifier until the loop has
    /// promoted one.
    var servingBundle: String? {
        if let current = store.currentDirectory { return current }
        let configured = settings.location.classifier
        return FileOperations.kind(configured + "/manifest.json") == .file ? configured : nil
    }

    /// One run: train, judge, promote or keep aside, record.
    func trainOnce() async {
        board.clearTrainingNow()
        let state = ledger.state
        let runID = state.nextRunID
        let started = Date()
        guard let parent = servingBundle else {
            logger.error("learning: no classifier serves (nothing at \(settings.location.classifier)); train one with `spamguardctl train` first")
            backOff()
            return
        }
        let feedback = state.messages.filter { !$0.value.expired }.map { hash, message in
            CandidateTraining.Feedback(hash: hash, label: message.label, path: intake.folder.learned + "/" + hash, isNew: message.isUntrained)
        }.sorted { $0.hash < $1.hash }
        board.activity = "training (run \(runID))"
        let (store, pace, logger, settings) = (store, pace, logger, settings)
        let clock = ContinuousClock()
        let start = clock.now
        var staging: String?
        do {
            let output = try await thread.run { try store.makeStagingDirectory(named: "run-\(runID)") }
            staging = output
            let plan = CandidateTraining.Plan(runID: runID, parent: parent, base: settings.location.base, feedback: feedback,
                                              holdoutPercent: settings.holdoutPercent, replayRatio: settings.replayRatio,
                                              maxExamples: settings.maxExamples, epochs: settings.epochs, cacheDirectory: settings.featureCache,
                                              output: output)
            let result = try await thread.run { try CandidateTraining(plan: plan, pace: pace, logger: logger).run() }
            let seconds = start.duration(to: clock.now).inSeconds
            try await conclude(runID: runID, started: started, seconds: seconds, result: result, staged: output, parentBundle: parent)
            staging = nil
            failures.withLock { $0 = (0, .now) }
        } catch is CancellationError {
            logger.notice("learning: run \(runID) stopped (shutting down); its feedback waits for the next run")
        } catch {
            logger.error("learning: run \(runID) failed: \(error)")
            let record = TrainingRunRecord(
                id: runID, started: started, seconds: Double(start.duration(to: clock.now).components.seconds), parent: parentVersion(parent),
                candidate: nil, outcome: .failed, reason: "\(error)", examples: 0, feedbackExamples: 0, replayedExamples: 0,
                heldOutFeedback: 0, before: nil, after: nil, consumedSpam: [], consumedHam: [])
            try? ledger.recordRun(record)
            backOff()
        }
        if let staging { try? FileOperations.remove(staging) }
    }

    private func parentVersion(_ bundle: String) -> String {
        (try? ClassifierBundle.readManifest(URL(fileURLWithPath: bundle)).version) ?? bundle
    }

    /// Gate, then promote or keep aside; the ledger records the run either way.
    private func conclude(runID: Int, started: Date, seconds: Double, result: CandidateTraining.Result, staged: String, parentBundle: String) async throws {
        var verdict = settings.gate.judge(current: result.before, candidate: result.after, changes: result.heldOutChanges)
        let version = result.candidate.version
        let (store, settings, ledger) = (store, settings, ledger)
        if verdict.promotes, (store.currentVersion ?? parentVersion(settings.location.classifier)) != result.parentVersion {
            verdict = .refuse(reason: "the serving version changed while it trained (a rollback?); it was finetuned from \(result.parentVersion)")
        }
        var record = TrainingRunRecord(
            id: runID, started: started, seconds: seconds, parent: result.parentVersion, candidate: version,
            outcome: verdict.promotes ? .promoted : .refused, reason: verdict.reason, examples: result.examples,
            feedbackExamples: result.feedbackExamples, replayedExamples: result.replayedExamples, heldOutFeedback: result.heldOutFeedback,
            before: result.before, after: result.after, heldOutChanges: result.heldOutChanges,
            consumedSpam: result.consumed[.spam] ?? [], consumedHam: result.consumed[.ham] ?? [])
        guard verdict.promotes else {
            try await thread.run { try store.keepCandidate(staged: staged, version: version, keep: settings.keepCandidates) }
            try ledger.recordRun(record)
            board.activity = "idle"
            logger.warning("""
                learning: run \(runID) refused candidate \(version): \(verdict.reason); still serving \(result.parentVersion); \
                the candidate is kept in \(store.candidateDirectory(of: version))
                """)
            return
        }
        let configured = settings.location.classifier
        let previous = try await thread.run { () throws -> String? in
            // The first promotion keeps the classifier `spamguardctl train` wrote, so that rollback can reach it.
            if store.currentVersion == nil { try store.adopt(bundle: configured, version: result.parentVersion) }
            return try store.promote(staged: staged, version: version, keep: settings.keepVersions)
        }
        record.reason = verdict.reason
        try ledger.recordRun(record)
        try ledger.recordServing(ServingRecord(version: version, previous: previous ?? result.parentVersion, reason: "promoted by run \(runID)", time: Date()))
        logger.notice("learning: run \(runID) promoted \(version) (was \(previous ?? result.parentVersion)) after \(Int(seconds)) s: \(verdict.reason)")
        board.activity = "idle"
        await swapServingModel()
    }

    /// Loads the store's current version and hands it to the model actor (between messages).
    func swapServingModel() async {
        guard let models else { return }
        switch await ModelLoading.load(settings.location, with: loader) {
        case .loaded(let model, let elapsed):
            await models.swap(to: model)
            logger.notice("learning: now serving \(model.version) (loaded in \(elapsed))")
        case .missing(let error):
            logger.error("learning: cannot load the promoted classifier: \(error); the previous one keeps serving")
        case .refused(let error):
            logger.critical("learning: refusing the promoted classifier: \(error); the previous one keeps serving")
        }
    }

    private func backOff() {
        failures.withLock { failures in
            failures.count += 1
            let wait = Duration.seconds(min(3600, 30 << min(failures.count - 1, 7)))
            failures.notBefore = .now + wait
        }
    }
}
