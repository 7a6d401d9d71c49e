import ControlProtocol
import DaemonTestSupport
import Foundation
import Testing
@testable import Learning
import SpamguardService
import Training

@Suite("CandidateTraining: finetune from the serving classifier on feedback plus replay, judge on held-out data")
struct CandidateTrainingTests {
    /// Files the messages under `learned/<hash>`, as the intake would, and describes them as feedback.
    func feedback(_ messages: [String], label: FeedbackLabel, in directory: String) throws -> [CandidateTraining.Feedback] {
        try messages.map { message in
            let hash = MailCheck.digest(of: Array(message.utf8))
            try write(message, to: directory + "/" + hash)
            return CandidateTraining.Feedback(hash: hash, label: label, path: directory + "/" + hash, isNew: true)
        }
    }

    func plan(_ world: TinyWorld, _ feedback: [CandidateTraining.Feedback], output: String) -> CandidateTraining.Plan {
        CandidateTraining.Plan(runID: 1, parent: world.classifier, base: world.base, feedback: feedback, holdoutPercent: 20,
                               replayRatio: 3, cacheDirectory: nil, output: output)
    }

    // Training is seconds of CPU: each test runs it on a thread of its own, off the cooperative pool.
    @Test func correctionsAreLearnedAndTheGatePromotes() async throws {
        try await onThread { try correctionsAreLearned() }
    }

    func correctionsAreLearned() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let world = try TinyWorld.make(in: root)
        let parent = try world.trainClassifier()
        #expect(parent.metrics["validation"]!.accuracy >= 0.95, "\(parent.metrics["validation"]!.summary)")
        let campaign = (0..<30).map(TinyWorld.campaign)
        let before = try world.scores(campaign, bundle: world.classifier)
        #expect(before.filter { $0 < 0.5 }.count >= 20, "the serving classifier takes the campaign for ham: \(before)")

        let items = try feedback(campaign, label: .spam, in: root + "/learned")
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        let result = try CandidateTraining(plan: plan(world, items, output: root + "/out"), pace: TrainingPace(activity: nil), logger: quiet).run()
        #expect(result.heldOutFeedback > 0 && result.heldOutFeedback < 15)
        #expect(result.feedbackExamples == 30 - result.heldOutFeedback)
        #expect(result.replayedExamples == 3 * result.feedbackExamples)
        #expect(result.before.heldOut.count == 40 + result.heldOutFeedback)
        #expect(result.consumed[.spam]?.count == 30)
        #expect(result.candidate.training.parentVersion == parent.version)
        #expect(result.candidate.training.sources == parent.training.sources, "later runs replay the original data")

        let changes = result.heldOutChanges
        #expect(changes.messages == result.before.heldOut.count && changes.ham == result.before.heldOut.fp + result.before.heldOut.tn)
        #expect(changes.newFalsePositives - changes.fixedFalsePositives == result.after.heldOut.fp - result.before.heldOut.fp)
        let verdict = QualityGate(maxAccuracyDrop: 0, maxFalsePositiveRise: 0).judge(current: result.before, candidate: result.after, changes: changes)
        #expect(verdict.promotes, "\(verdict.reason)")
        let after = try world.scores(campaign, bundle: root + "/out")
        #expect(after.filter { $0 >= 0.5 }.count >= 28, "the candidate knows the campaign: \(after)")
    }

    @Test func poisonedFeedbackIsRefused() async throws {
        try await onThread { try poisonedFeedback() }
    }

    func poisonedFeedback() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let world = try TinyWorld.make(in: root)
        _ = try world.trainClassifier()
        // Messages it classifies right, dropped with the wrong label.
        let ham = (300..<330).map { TinyWorld.ham($0, seed: 9) }, spam = (300..<315).map { TinyWorld.spam($0 * 3, seed: 9) }
        let items = try feedback(ham, label: .spam, in: root + "/learned") + feedback(spam, label: .ham, in: root + "/learned")
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        let result = try CandidateTraining(plan: plan(world, items, output: root + "/out"), pace: TrainingPace(activity: nil), logger: quiet).run()
        let verdict = QualityGate(maxAccuracyDrop: 0.02, maxFalsePositiveRise: 0.02)
            .judge(current: result.before, candidate: result.after, changes: result.heldOutChanges)
        // Replay outvotes the flipped labels: the candidate gets no better at them, or worse on held-out data.
        #expect(!verdict.promotes, "\(verdict.reason)")
        #expect(result.after.feedback.fp + result.after.feedback.fn > result.after.feedback.count / 2, "it did not learn the lies")
    }

    @Test func aCancelledRunStopsAtItsNextStep() async throws {
        try await onThread { try cancelledRun() }
    }

    func cancelledRun() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let world = try TinyWorld.make(in: root, train: 30, validation: 9)
        _ = try world.trainClassifier()
        let items = try feedback((0..<6).map(TinyWorld.campaign), label: .spam, in: root + "/learned")
        let pace = TrainingPace(activity: nil)
        pace.cancel()
        #expect(throws: CancellationError.self) {
            try CandidateTraining(plan: plan(world, items, output: root + "/out"), pace: pace, logger: quiet).run()
        }
    }

    @Test func heldOutSliceIsStableByHash() {
        let hashes = (0..<1000).map { MailCheck.digest(of: Array("m\($0)".utf8)) }
        let held = hashes.filter { CandidateTraining.heldOut($0, percent: 20) }
        #expect((150...250).contains(held.count))
        #expect(held == hashes.filter { CandidateTraining.heldOut($0, percent: 20) })
        #expect(hashes.filter { CandidateTraining.heldOut($0, percent: 0) }.isEmpty)
    }
}
