import DaemonTestSupport
import Glibc
import Testing
@testable import Learning
import SpamguardService
import Training

@Suite("QualityGate: promote only what is no worse on held-out data and better on the feedback")
struct QualityGateTests {
    /// Metrics with the given confusion counts and loss.
    func metrics(tp: Int, fp: Int, tn: Int, fn: Int, loss: Double) -> Metrics {
        var m = Metrics()
        (m.tp, m.fp, m.tn, m.fn, m.loss) = (tp, fp, tn, fn, loss)
        return m
    }

    let gate = QualityGate(maxAccuracyDrop: 0.01, maxFalsePositiveRise: 0.005)
    var current: QualityGate.Evaluation {
        .init(heldOut: metrics(tp: 90, fp: 2, tn: 198, fn: 10, loss: 0.2), feedback: metrics(tp: 2, fp: 3, tn: 7, fn: 8, loss: 1.5))
    }

    @Test func aBetterCandidateIsPromoted() {
        let candidate = QualityGate.Evaluation(heldOut: metrics(tp: 95, fp: 2, tn: 198, fn: 5, loss: 0.15),
                                               feedback: metrics(tp: 10, fp: 0, tn: 10, fn: 0, loss: 0.1))
        let verdict = gate.judge(current: current, candidate: candidate)
        #expect(verdict.promotes)
        #expect(verdict.reason.contains("96.00% → 97.67%"))
    }

    @Test func anAccuracyDropBeyondTheToleranceIsRefused() {
        // 96.00% → 94.67%: a drop of 1.33 points against a tolerance of 1.
        let candidate = QualityGate.Evaluation(heldOut: metrics(tp: 86, fp: 2, tn: 198, fn: 14, loss: 0.3),
                                               feedback: metrics(tp: 10, fp: 0, tn: 10, fn: 0, loss: 0.1))
        let verdict = gate.judge(current: current, candidate: candidate)
        #expect(verdict == .refuse(reason: "held-out accuracy would fall from 96.00% to 94.67% (tolerance 1.00%, n=300)"))
        // Within the tolerance (a drop of 0.67 points) it passes.
        let slight = QualityGate.Evaluation(heldOut: metrics(tp: 88, fp: 2, tn: 198, fn: 12, loss: 0.3), feedback: candidate.feedback)
        #expect(gate.judge(current: current, candidate: slight).promotes)
    }

    @Test func aFalsePositiveRiseBeyondTheToleranceIsRefused() {
        // FPR 1% → 2% (2 → 4 of 200 ham), accuracy the same.
        let candidate = QualityGate.Evaluation(heldOut: metrics(tp: 92, fp: 4, tn: 196, fn: 8, loss: 0.2),
                                               feedback: metrics(tp: 10, fp: 0, tn: 10, fn: 0, loss: 0.1))
        let verdict = gate.judge(current: current, candidate: candidate)
        #expect(!verdict.promotes)
        #expect(verdict.reason.hasPrefix("held-out false-positive rate would rise from 1.00% to 2.00%"))
    }

    @Test func zeroTolerancesAcceptEqualFigures() {
        let strict = QualityGate(maxAccuracyDrop: 0, maxFalsePositiveRise: 0)
        let candidate = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 10, fp: 0, tn: 10, fn: 0, loss: 0.1))
        #expect(strict.judge(current: current, candidate: candidate).promotes)
    }

    @Test func aCandidateThatDoesNotClassifyTheFeedbackBetterIsRefused() {
        let sameErrors = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 2, fp: 3, tn: 7, fn: 8, loss: 1.2))
        #expect(!gate.judge(current: current, candidate: sameErrors).promotes, "a lower loss alone is not better while errors remain")
        let moreErrors = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 1, fp: 3, tn: 7, fn: 9, loss: 1.0))
        #expect(gate.judge(current: current, candidate: moreErrors).reason.hasPrefix("it does not classify the new feedback better: 12 errors of 20 (serving: 11)"))
    }

    @Test func feedbackThatConfirmsTheServingClassifierNeedsALowerLoss() {
        let confirmed = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 5, fp: 0, tn: 5, fn: 0, loss: 0.3))
        let surer = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 5, fp: 0, tn: 5, fn: 0, loss: 0.1))
        let lessSure = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 5, fp: 0, tn: 5, fn: 0, loss: 0.4))
        #expect(gate.judge(current: confirmed, candidate: surer).promotes)
        #expect(!gate.judge(current: confirmed, candidate: lessSure).promotes)
    }

    @Test func nothingToJudgeOnIsARefusal() {
        let empty = QualityGate.Evaluation(heldOut: Metrics(), feedback: Metrics())
        #expect(gate.judge(current: empty, candidate: empty) == .refuse(reason: "no held-out data to judge the candidate on"))
    }
}

@Suite("TrainingPace: classification goes first")
struct TrainingPaceTests {
    @Test func checkpointsWaitWhileMailIsInProgress() async throws {
        let activity = MailActivity()
        let pace = TrainingPace(activity: activity)
        try pace.checkpoint()  // nothing in progress: returns at once
        var token: MailActivity.Token? = activity.messageStarted()
        let clock = ContinuousClock()
        let started = clock.now
        let waited = Task { try await onThread { try pace.checkpoint(); return started.duration(to: clock.now) } }
        try await Task.sleep(for: .milliseconds(100))
        let deadline = ContinuousClock.now + .seconds(10)
        while !pace.isWaitingForMail, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(pace.isWaitingForMail)
        withExtendedLifetime(token) {}
        token = nil
        let duration = try await waited.value
        #expect(duration >= .milliseconds(100))
        #expect(pace.mailPauses == 1 && !pace.isWaitingForMail)
    }

    @Test func pauseHoldsAndCancelStops() async throws {
        let pace = TrainingPace(activity: nil)
        pace.pause()
        #expect(!pace.isHeldByPause, "no checkpoint reached yet")
        let waiting = Task { try await onThread { try pace.checkpoint() } }
        try await Task.sleep(for: .milliseconds(120))
        #expect(pace.isHeldByPause)
        pace.resume()
        try await waiting.value
        #expect(!pace.isHeldByPause)
        pace.pause()
        let stopped = Task {
            await (try? onThread { () -> Bool in
                do { try pace.checkpoint(); return false } catch { return true }
            }) ?? false
        }
        try await Task.sleep(for: .milliseconds(60))
        pace.cancel()
        #expect(await stopped.value, "a paused checkpoint throws when training is cancelled")
        #expect(throws: CancellationError.self) { try pace.checkpoint() }
    }

    @Test("within a step, training yields before every matrix product while mail is in progress")
    func yieldWithinAStep() async throws {
        let activity = MailActivity()
        let pace = TrainingPace(activity: activity)
        pace.yieldToMail()  // nothing in progress: returns at once
        #expect(pace.mailPauses == 0)
        var token: MailActivity.Token? = activity.messageStarted()
        let clock = ContinuousClock()
        let started = clock.now
        let yielded = Task { try await onThread { pace.yieldToMail(); return started.duration(to: clock.now) } }
        try await Task.sleep(for: .milliseconds(100))
        #expect(pace.isWaitingForMail)
        withExtendedLifetime(token) {}
        token = nil
        #expect(try await yielded.value >= .milliseconds(100))
        #expect(pace.mailPauses == 1 && !pace.isWaitingForMail)
    }

    @Test("the learning thread runs under SCHED_IDLE, and at nice 19 (what it starts inherits both)")
    func learningThreadYieldsTheCPU() async throws {
        let thread = LearningThread()
        defer { thread.stop() }
        let (policy, niceness) = try await thread.run { (LearningThread.currentPolicy, getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)) }
        #expect(policy == LearningThread.idlePolicy)
        #expect(niceness == LearningThread.niceness)
    }
}
