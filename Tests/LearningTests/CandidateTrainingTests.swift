import ControlProtocol
import DaemonTestSupport
import Foundation
import GPT
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

    @Test func correctionsAreLearnedWithABagHead() async throws {
        try await onThread { try correctionsAreLearned(bag: TokenBag(buckets: 1 << 16, tokens: 64)) }
    }

    func correctionsAreLearned(bag: TokenBag? = nil) throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let world = try TinyWorld.make(in: root)
        let parent = try world.trainClassifier(bag: bag)
        #expect(parent.bag == bag)
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
        #expect(result.candidate.bag == bag, "the candidate keeps the parent's heads")
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

    /// A bag head memorises the flipped messages it trains on (each has a number of its own); judged on the held-out
    /// slice of the feedback, the candidate shows it learned nothing that generalises.
    @Test func poisonedFeedbackIsRefusedWithABagHead() async throws {
        try await onThread { try poisonedFeedback(bag: TokenBag(buckets: 1 << 16, tokens: 64)) }
    }

    func poisonedFeedback(bag: TokenBag? = nil) throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let world = try TinyWorld.make(in: root)
        _ = try world.trainClassifier(bag: bag)
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

    @Test func aCappedRunTrainsOnAllNewFeedbackWithinTheCapForItsEpochs() async throws {
        try await onThread { try cappedRun() }
    }

    func cappedRun() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let world = try TinyWorld.make(in: root)
        _ = try world.trainClassifier()
        let old = try feedback((400..<420).map { TinyWorld.ham($0, seed: 5) }, label: .ham, in: root + "/learned")
            .map { CandidateTraining.Feedback(hash: $0.hash, label: $0.label, path: $0.path, isNew: false) }
        let new = try feedback((0..<10).map(TinyWorld.campaign), label: .spam, in: root + "/learned")
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        var capped = plan(world, old + new, output: root + "/out")
        capped.holdoutPercent = 0
        capped.maxExamples = 60
        capped.epochs = 2   // `[feedback] epochs_per_run`, where the parent bundle trained for 6
        let result = try CandidateTraining(plan: capped, pace: TrainingPace(activity: nil), logger: quiet).run()
        #expect(result.examples == 60, "the cap holds")
        #expect(result.steps == 2 * 8, "two epochs of 60 examples in batches of 8")
        #expect(result.candidate.training.settings.epochs == 2, "the manifest records the epochs the run trained")
        #expect(Set(new.map(\.hash)).isSubset(of: result.trainedFeedback), "every new label is trained on")
        // Feedback takes up to half of the 60: the 10 new and all 20 older; the replay fills the other 30.
        #expect(result.feedbackExamples == 30 && result.trainedFeedback.count == 30)
        #expect(result.replayedExamples == 30)
        #expect(result.consumed[.spam]?.count == 10 && result.consumed[.ham]?.isEmpty == true, "only the new labels are used up")

        // Back at `epochs_per_run = 0`, the next run from this candidate trains the recipe's 6 epochs, not the 2.
        #expect(result.candidate.training.recipeEpochs == 6)
        try FileManager.default.createDirectory(atPath: root + "/out2", withIntermediateDirectories: true)
        var next = capped
        next.runID = 2
        next.parent = root + "/out"
        next.epochs = nil
        next.output = root + "/out2"
        let child = try CandidateTraining(plan: next, pace: TrainingPace(activity: nil), logger: quiet).run()
        #expect(child.steps == 6 * 8 && child.candidate.training.settings.epochs == 6)
        #expect(child.candidate.training.recipeEpochs == nil, "a run at the recipe's epochs needs no note of them")
    }

    @Test func theBudgetKeepsTheNewFeedbackAndSharesTheRestWithOlderFeedback() {
        typealias Budget = CandidateTraining.Budget
        // No cap: all of it, 3 replayed per feedback example (as much as there is).
        #expect(Budget(newFeedback: 240, oldFeedback: 480, replayAvailable: 2000, ratio: 3, cap: nil) == .init(oldFeedback: 480, replay: 2000))
        #expect(Budget(newFeedback: 240, oldFeedback: 0, replayAvailable: 2000, ratio: 3, cap: nil) == .init(oldFeedback: 0, replay: 720))
        // Under the cap nothing changes.
        #expect(Budget(newFeedback: 240, oldFeedback: 0, replayAvailable: 2000, ratio: 3, cap: 1200) == .init(oldFeedback: 0, replay: 720))
        // Over it: half feedback (new first, older to fill), half replay.
        #expect(Budget(newFeedback: 240, oldFeedback: 480, replayAvailable: 2000, ratio: 3, cap: 1200) == .init(oldFeedback: 360, replay: 600))
        #expect(Budget(newFeedback: 400, oldFeedback: 480, replayAvailable: 2000, ratio: 3, cap: 1200) == .init(oldFeedback: 200, replay: 600))
        // A full batch of new labels (300 of 1200, replay_ratio 3) still leaves older feedback its room.
        #expect(Budget(newFeedback: 300, oldFeedback: 900, replayAvailable: 2000, ratio: 3, cap: 1200) == .init(oldFeedback: 300, replay: 600))
        // More new feedback than its share: all of it, no older, the replay fills the rest.
        #expect(Budget(newFeedback: 700, oldFeedback: 480, replayAvailable: 2000, ratio: 3, cap: 1200) == .init(oldFeedback: 0, replay: 500))
        // A ratio under 1 gives feedback more than half: cap / (1 + ratio).
        #expect(Budget(newFeedback: 100, oldFeedback: 2000, replayAvailable: 2000, ratio: 0.5, cap: 1200) == .init(oldFeedback: 700, replay: 400))
        // More new feedback than the cap: all of it, nothing else.
        #expect(Budget(newFeedback: 1500, oldFeedback: 480, replayAvailable: 2000, ratio: 3, cap: 1200) == .init(oldFeedback: 0, replay: 0))
        // Little replay to be had: older feedback fills in.
        #expect(Budget(newFeedback: 240, oldFeedback: 480, replayAvailable: 100, ratio: 3, cap: 1200) == .init(oldFeedback: 480, replay: 100))
        #expect(Budget(newFeedback: 240, oldFeedback: 2000, replayAvailable: 0, ratio: 3, cap: 1200) == .init(oldFeedback: 960, replay: 0))
        for new in [0, 10, 299, 300, 1000] {
            for old in [0, 7, 500] {
                for cap in [50, 61, 1200] {
                    let budget = Budget(newFeedback: new, oldFeedback: old, replayAvailable: 700, ratio: 2.5, cap: cap)
                    #expect(new + budget.oldFeedback + budget.replay <= max(cap, new), "new \(new) old \(old) cap \(cap)")
                    #expect(budget.oldFeedback <= old && budget.replay <= 700)
                }
            }
        }
    }

    @Test func olderFeedbackIsSampledByRunID() {
        let hashes = (0..<100).map { MailCheck.digest(of: Array("m\($0)".utf8)) }
        let first = CandidateTraining.sample(hashes, count: 20, runID: 7)
        #expect(first.count == 20 && first.isSubset(of: Set(hashes)))
        #expect(CandidateTraining.sample(hashes.reversed(), count: 20, runID: 7) == first, "the same run draws the same, in any order")
        #expect(CandidateTraining.sample(hashes, count: 20, runID: 8) != first)
        #expect(CandidateTraining.sample(hashes, count: 100, runID: 7) == Set(hashes))
    }

    @Test func heldOutSliceIsStableByHash() {
        let hashes = (0..<1000).map { MailCheck.digest(of: Array("m\($0)".utf8)) }
        let held = hashes.filter { CandidateTraining.heldOut($0, percent: 20) }
        #expect((150...250).contains(held.count))
        #expect(held == hashes.filter { CandidateTraining.heldOut($0, percent: 20) })
        #expect(hashes.filter { CandidateTraining.heldOut($0, percent: 0) }.isEmpty)
    }
}
