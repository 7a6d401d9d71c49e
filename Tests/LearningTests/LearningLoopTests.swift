import ControlProtocol
import DaemonTestSupport
import Foundation
import Logging
import Testing
@testable import Learning
import SpamguardService

@Suite("LearningLoop: idle-time finetuning, gate, promotion, swap, rollback — in process")
struct LearningLoopTests {
    struct Running {
        let world: TinyWorld
        let configuration: Configuration
        let store: BundleStore
        let models: ModelActor
        let activity: MailActivity
        let loop: LearningLoop
        let control: LearningControl
        let task: Task<Void, any Error>
        var folder: FeedbackFolder { loop.intake.folder }

        func stop() async {
            task.cancel()
            _ = await task.result
        }
    }

    func start(_ world: TinyWorld, idleSeconds: Double = 0.3, minNew: Int = 10) async throws -> Running {
        var configuration = Configuration()
        configuration.stateDirectory = world.root + "/state"
        configuration.model.base = world.base
        configuration.model.classifier = world.classifier
        configuration.feedback.directory = world.root + "/state/feedback"
        configuration.feedback.idleSeconds = idleSeconds
        configuration.feedback.minNewExamples = minNew
        // One message of the tiny validation set (26 ham, 14 spam) is 2.5–4 points: tolerate one.
        configuration.feedback.maxAccuracyDrop = 0.03
        configuration.feedback.maxFalsePositiveRise = 0.04
        // The tiny world's 6 epochs: a run here is a dozen steps, and one pass of them (the default, measured on
        // runs of 1000+ examples) left 9 of the 30 campaign messages ham.
        configuration.feedback.epochsPerRun = 0
        let store = BundleStore(directory: LearningPaths(configuration).store)
        let loader = BundleClassifierLoader(store: store)
        let location = configuration.model.location
        let models = ModelActor(model: try await onThread { try loader.load(location) }, limits: BatchLimits(maxBatch: 4, maxWait: .zero), logger: quiet)
        let activity = MailActivity()
        let parts = DaemonParts(configuration: configuration, models: models, activity: activity, loader: loader, logger: quiet)
        let (loop, control) = try LearningAssembly.make(parts, store: store)
        let task = Task { try await loop.run() }
        return Running(world: world, configuration: configuration, store: store, models: models, activity: activity,
                       loop: loop, control: control, task: task)
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    func eventually(_ seconds: Double = 60, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test func correctionsArePromotedSwappedInAndCanBeRolledBack() async throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let (world, parent) = try await TinyWorld.trained(in: root)
        let running = try await start(world)
        let campaign = (0..<30).map(TinyWorld.campaign)

        // Mail in progress holds training back, however many corrections wait.
        var token: MailActivity.Token? = running.activity.messageStarted()
        for (i, message) in campaign.enumerated() {
            try running.folder.drop(Array(message.utf8), label: .spam, name: "campaign-\(i).eml")
        }
        #expect(await eventually { await running.control.learningStatus().feedback.untrained == 30 })
        try await Task.sleep(for: .milliseconds(600))
        #expect(running.loop.ledger.state.lastRun == nil, "no training while mail is in progress")
        withExtendedLifetime(token) {}
        token = nil

        #expect(await eventually { running.loop.ledger.state.lastRun != nil })
        let run = try #require(running.loop.ledger.state.lastRun)
        #expect(run.outcome == .promoted, "\(run.reason)")
        let promoted = try #require(run.candidate)
        #expect(running.store.currentVersion == promoted)
        #expect(await eventually(10) { running.models.currentModel?.version == promoted }, "the model actor serves it")
        let bundle = try #require(running.store.currentDirectory)
        let scores = try await onThread { try world.scores(campaign, bundle: bundle) }
        #expect(scores.filter { $0 >= 0.5 }.count >= 28, "\(scores)")

        let status = await running.control.learningStatus()
        #expect(status.feedback.learned == 30 && status.feedback.untrained == 0 && status.feedback.waiting == 0)
        #expect(status.lastRun?.outcome == "promoted" && status.lastRun?.feedbackExamples ?? 0 > 0)
        #expect(status.servingVersion == promoted)
        let models = try await running.control.models()
        #expect(models.versions.map(\.version) == [promoted, parent.version], "the trained classifier was kept for rollback")
        #expect(models.versions.first?.serving == true && models.versions.first?.parent == parent.version)

        let rollback = try await running.control.rollback(to: nil)
        #expect(rollback == RollbackReport(from: promoted, to: parent.version, applied: true))
        #expect(running.models.currentModel?.version == parent.version)
        #expect(running.loop.ledger.state.lastServing?.reason == "rollback")
        await running.stop()
    }

    @Test func poisonedFeedbackIsRefusedAndTheCandidateKeptAside() async throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let (world, parent) = try await TinyWorld.trained(in: root)
        // All 40 must wait before a run starts (the last check counts on it), however slowly intake goes.
        let running = try await start(world, minNew: 40)
        for i in 300..<320 {
            try running.folder.drop(Array(TinyWorld.ham(i, seed: 9).utf8), label: .spam, name: "flipped-ham-\(i)")
            try running.folder.drop(Array(TinyWorld.spam(i * 3, seed: 9).utf8), label: .ham, name: "flipped-spam-\(i)")
        }
        #expect(await eventually { running.loop.ledger.state.lastRun != nil })
        let run = try #require(running.loop.ledger.state.lastRun)
        #expect(run.outcome == .refused)
        #expect(running.store.currentVersion == nil && running.models.currentModel?.version == parent.version, "the serving classifier stays")
        let candidate = try #require(run.candidate)
        #expect(running.store.candidates() == [candidate])
        let listed = try await running.control.models()
        #expect(listed.refused.first?.reason == run.reason)
        #expect(await running.control.learningStatus().lastRun?.outcome == "refused")
        // Its labels are used up: no retraining on the same poison at the next idle moment.
        #expect(running.loop.ledger.state.untrained.isEmpty)
        await running.stop()
    }

    @Test func pauseHoldsTrainingAndTrainNowSkipsTheIdleWait() async throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let (world, _) = try await TinyWorld.trained(in: root, train: 60, validation: 20)
        let running = try await start(world, idleSeconds: 3600, minNew: 50)
        try await running.control.pauseTraining()
        for i in 0..<12 { try running.folder.drop(Array(TinyWorld.campaign(i).utf8), label: .spam, name: "c\(i)") }
        #expect(await eventually { running.loop.ledger.state.untrained.count == 12 })
        await running.control.trainNow()
        try await Task.sleep(for: .milliseconds(800))
        #expect(running.loop.ledger.state.lastRun == nil, "paused: not even train-now starts a run")
        #expect(await running.control.learningStatus().paused)
        // The pause outlives the process: a daemon starting on the same state starts paused.
        let marker = LearningPaths(running.configuration).pausedMarker
        #expect(FileManager.default.fileExists(atPath: marker))
        let parts = DaemonParts(configuration: running.configuration, models: running.models, activity: running.activity,
                                loader: BundleClassifierLoader(store: running.store), logger: quiet)
        #expect(try await LearningAssembly.make(parts, store: running.store).1.learningStatus().paused)
        try await running.control.resumeTraining()
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(await eventually { running.loop.ledger.state.lastRun != nil }, "train-now: no idle hour, fewer than min_new_examples")
        #expect(await !running.control.learningStatus().trainNowRequested, "a run takes the request")
        // With nothing new, a train-now lapses at the next intake instead of waiting for the next correction.
        await running.control.trainNow()
        #expect(await eventually(5) { await !running.control.learningStatus().trainNowRequested })
        await running.stop()
    }
}
