import DaemonTestSupport
import Glibc
import Testing
@testable import Learning
import SpamguardService
import Training

@Suite("QualityGate: promote only what is no worse on held-out data, beyond chance, and better on the feedback")
struct QualityGateTests {
    /// Metrics with the given confusion counts and loss.
    func metrics(tp: Int, fp: Int, tn: Int, fn: Int, loss: Double) -> Metrics {
        var m = Metrics()
        (m.tp, m.fp, m.tn, m.fn, m.loss) = (tp, fp, tn, fn, loss)
        return m
    }

    /// The message-by-message changes from `before` to `after` on held-out data: `newFP` ham newly called spam and
    /// `fixedFP` no longer, `newFN` spam newly let through and `fixedFN` no longer. The nets must match the figures.
    func changes(_ before: Metrics, _ after: Metrics, newFP: Int = 0, fixedFP: Int = 0, newFN: Int = 0, fixedFN: Int = 0) -> HeldOutChanges {
        precondition(after.fp - before.fp == newFP - fixedFP && after.fn - before.fn == newFN - fixedFN, "inconsistent test data")
        return HeldOutChanges(messages: before.count, ham: before.fp + before.tn, newErrors: newFP + newFN, fixedErrors: fixedFP + fixedFN,
                              newFalsePositives: newFP, fixedFalsePositives: fixedFP)
    }

    let gate = QualityGate(maxAccuracyDrop: 0.01, maxFalsePositiveRise: 0.005)
    /// The same tolerances with no margin for chance: the plain comparison of rates.
    let plain = QualityGate(maxAccuracyDrop: 0.01, maxFalsePositiveRise: 0.005, confidence: 0.5)
    var current: QualityGate.Evaluation {
        .init(heldOut: metrics(tp: 90, fp: 2, tn: 198, fn: 10, loss: 0.2), feedback: metrics(tp: 2, fp: 3, tn: 7, fn: 8, loss: 1.5))
    }
    var learned: Metrics { metrics(tp: 10, fp: 0, tn: 10, fn: 0, loss: 0.1) }
    var unchanged: HeldOutChanges { changes(current.heldOut, current.heldOut) }

    @Test func aBetterCandidateIsPromoted() {
        let candidate = QualityGate.Evaluation(heldOut: metrics(tp: 95, fp: 2, tn: 198, fn: 5, loss: 0.15), feedback: learned)
        let verdict = gate.judge(current: current, candidate: candidate, changes: changes(current.heldOut, candidate.heldOut, newFN: 1, fixedFN: 6))
        #expect(verdict.promotes)
        #expect(verdict.reason.contains("96.00% → 97.67% (+1 newly wrong, −6 newly right, allowed +7 at n=300)"), "\(verdict.reason)")
        #expect(verdict.reason.contains("false-positive rate 1.00% → 1.00% (+0 new FP, −0 fixed, allowed +1 at n=200 ham)"), "\(verdict.reason)")
    }

    @Test func anAccuracyDropBeyondTheToleranceIsRefused() {
        // 96.00% → 94.67%: 4 more errors of 300 against a tolerance of 1% (3).
        let candidate = QualityGate.Evaluation(heldOut: metrics(tp: 86, fp: 2, tn: 198, fn: 14, loss: 0.3), feedback: learned)
        let fourWorse = changes(current.heldOut, candidate.heldOut, newFN: 4)
        #expect(plain.judge(current: current, candidate: candidate, changes: fourWorse) == .refuse(reason:
            "held-out accuracy would fall from 96.00% to 94.67% (+4 newly wrong, −0 newly right, allowed +3 at n=300: "
                + "tolerance 1.00% plus chance at 50% confidence)"))
        // Four changed verdicts could be chance: 3 + 1.645·√4 = 6.3 allowed at 95% confidence.
        #expect(gate.judge(current: current, candidate: candidate, changes: fourWorse).promotes)
        // Within the tolerance (2 more errors) it passes with no margin either.
        let slight = QualityGate.Evaluation(heldOut: metrics(tp: 88, fp: 2, tn: 198, fn: 12, loss: 0.3), feedback: learned)
        #expect(plain.judge(current: current, candidate: slight, changes: changes(current.heldOut, slight.heldOut, newFN: 2)).promotes)
        // A drop that goes one way on many messages is refused at 95% confidence too.
        let worse = QualityGate.Evaluation(heldOut: metrics(tp: 80, fp: 2, tn: 198, fn: 20, loss: 0.4), feedback: learned)
        let verdict = gate.judge(current: current, candidate: worse, changes: changes(current.heldOut, worse.heldOut, newFN: 11, fixedFN: 1))
        #expect(verdict.reason == "held-out accuracy would fall from 96.00% to 92.67% (+11 newly wrong, −1 newly right, allowed +8 at n=300: "
            + "tolerance 1.00% plus chance at 95% confidence)")
    }

    @Test func aFalsePositiveRiseBeyondTheToleranceIsRefused() {
        // FPR 1% → 2% (2 → 4 of 200 ham), accuracy the same.
        let candidate = QualityGate.Evaluation(heldOut: metrics(tp: 92, fp: 4, tn: 196, fn: 8, loss: 0.2), feedback: learned)
        let verdict = plain.judge(current: current, candidate: candidate, changes: changes(current.heldOut, candidate.heldOut, newFP: 2, fixedFN: 2))
        #expect(!verdict.promotes)
        #expect(verdict.reason.hasPrefix("held-out false-positive rate would rise from 1.00% to 2.00% (+2 new FP, −0 fixed, allowed +1 at n=200 ham"),
                "\(verdict.reason)")
    }

    /// Issue #8: on the ~460 held-out ham of SpamAssassin one false positive is 0.22 points, more than the default
    /// tolerance of 0.20, so the plain comparison refused candidates that were better on the test set. With the
    /// shipped defaults, one extra false positive with an offsetting fix elsewhere passes; a false-positive rate
    /// that is clearly worse — on a large set, or one way on many ham of a small one — is refused.
    @Test func theShippedGateTellsNoiseFromAWorseFalsePositiveRate() {
        let defaults = SpamguardService.Configuration().feedback
        let shipped = QualityGate(maxAccuracyDrop: defaults.maxAccuracyDrop, maxFalsePositiveRise: defaults.maxFalsePositiveRise,
                                  confidence: defaults.gateConfidence)
        let noMargin = QualityGate(maxAccuracyDrop: defaults.maxAccuracyDrop, maxFalsePositiveRise: defaults.maxFalsePositiveRise, confidence: 0.5)
        let feedback = metrics(tp: 5, fp: 3, tn: 5, fn: 7, loss: 1.4)
        let now = QualityGate.Evaluation(heldOut: metrics(tp: 220, fp: 13, tn: 447, fn: 20, loss: 0.2), feedback: feedback)

        // 460 ham: two ham newly called spam, one false positive fixed (13 → 14, 2.83% → 3.04%), five spam caught.
        let oneMore = QualityGate.Evaluation(heldOut: metrics(tp: 225, fp: 14, tn: 446, fn: 15, loss: 0.18), feedback: learned)
        let oneMoreChanges = changes(now.heldOut, oneMore.heldOut, newFP: 2, fixedFP: 1, fixedFN: 5)
        #expect(!noMargin.judge(current: now, candidate: oneMore, changes: oneMoreChanges).promotes, "the plain comparison refuses it")
        let verdict = shipped.judge(current: now, candidate: oneMore, changes: oneMoreChanges)
        #expect(verdict.promotes, "\(verdict.reason)")
        #expect(verdict.reason.contains("false-positive rate 2.83% → 3.04% (+2 new FP, −1 fixed, allowed +2 at n=460 ham)"), "\(verdict.reason)")

        // The same 460 ham, eight newly called spam and none fixed (2.83% → 4.57%): not chance.
        let eightMore = QualityGate.Evaluation(heldOut: metrics(tp: 225, fp: 21, tn: 439, fn: 15, loss: 0.25), feedback: learned)
        let eightVerdict = shipped.judge(current: now, candidate: eightMore, changes: changes(now.heldOut, eightMore.heldOut, newFP: 8, fixedFN: 5))
        #expect(eightVerdict.reason.hasPrefix("held-out false-positive rate would rise from 2.83% to 4.57% (+8 new FP, −0 fixed, allowed +3 at n=460 ham"),
                "\(eightVerdict.reason)")

        // 5,000 ham: FPR 1% → 2% (60 new false positives, 10 fixed); accuracy within its tolerance (20 spam caught).
        let large = QualityGate.Evaluation(heldOut: metrics(tp: 900, fp: 50, tn: 4950, fn: 100, loss: 0.1), feedback: feedback)
        let doubled = QualityGate.Evaluation(heldOut: metrics(tp: 920, fp: 100, tn: 4900, fn: 80, loss: 0.1), feedback: learned)
        let largeVerdict = shipped.judge(current: large, candidate: doubled, changes: changes(large.heldOut, doubled.heldOut, newFP: 60, fixedFP: 10, fixedFN: 20))
        #expect(largeVerdict.reason == "held-out false-positive rate would rise from 1.00% to 2.00% (+60 new FP, −10 fixed, allowed +17 at n=5000 ham: "
            + "tolerance 0.20% plus chance at 80% confidence)")
    }

    @Test func zeroTolerancesAcceptEqualFigures() {
        let strict = QualityGate(maxAccuracyDrop: 0, maxFalsePositiveRise: 0, confidence: 0.5)
        let candidate = QualityGate.Evaluation(heldOut: current.heldOut, feedback: learned)
        #expect(strict.judge(current: current, candidate: candidate, changes: unchanged).promotes)
        // Equal figures with verdicts swapped (one ham newly called spam, another no longer) are equal too.
        let swapped = changes(current.heldOut, current.heldOut, newFP: 1, fixedFP: 1)
        #expect(strict.judge(current: current, candidate: candidate, changes: swapped).promotes)
    }

    @Test func aComparisonThatDoesNotMatchTheFiguresIsRefused() {
        let candidate = QualityGate.Evaluation(heldOut: metrics(tp: 92, fp: 4, tn: 196, fn: 8, loss: 0.2), feedback: learned)
        let verdict = gate.judge(current: current, candidate: candidate, changes: unchanged)
        #expect(!verdict.promotes)
        #expect(verdict.reason.hasPrefix("the message-by-message comparison does not match the held-out figures"))
    }

    @Test func aCandidateThatDoesNotClassifyTheFeedbackBetterIsRefused() {
        let sameErrors = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 2, fp: 3, tn: 7, fn: 8, loss: 1.2))
        #expect(!gate.judge(current: current, candidate: sameErrors, changes: unchanged).promotes, "a lower loss alone is not better while errors remain")
        let moreErrors = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 1, fp: 3, tn: 7, fn: 9, loss: 1.0))
        #expect(gate.judge(current: current, candidate: moreErrors, changes: unchanged).reason
            .hasPrefix("it does not classify the new feedback better: 12 errors of 20 (serving: 11)"))
    }

    @Test func feedbackThatConfirmsTheServingClassifierNeedsALowerLoss() {
        let confirmed = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 5, fp: 0, tn: 5, fn: 0, loss: 0.3))
        let surer = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 5, fp: 0, tn: 5, fn: 0, loss: 0.1))
        let lessSure = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 5, fp: 0, tn: 5, fn: 0, loss: 0.4))
        #expect(gate.judge(current: confirmed, candidate: surer, changes: unchanged).promotes)
        #expect(!gate.judge(current: confirmed, candidate: lessSure, changes: unchanged).promotes)
    }

    @Test func aTieInFeedbackErrorsIsBrokenByLossOnlyWhenTheFeedbackMostlyConfirms() {
        // One error in twenty: the feedback mostly agrees with the serving classifier.
        let mostlyRight = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 10, fp: 0, tn: 9, fn: 1, loss: 0.30))
        let surer = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 10, fp: 1, tn: 9, fn: 0, loss: 0.25))
        let lessSure = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 10, fp: 0, tn: 9, fn: 1, loss: 0.35))
        #expect(gate.judge(current: mostlyRight, candidate: surer, changes: unchanged).promotes)
        #expect(gate.judge(current: mostlyRight, candidate: lessSure, changes: unchanged).reason
            .hasPrefix("it does not classify the new feedback better: 1 errors of 20 (serving: 1)"))
        // Ten of twenty wrong (flipped labels look like this): a lower loss is no evidence of learning.
        let halfWrong = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 5, fp: 5, tn: 5, fn: 5, loss: 1.0))
        let pulled = QualityGate.Evaluation(heldOut: current.heldOut, feedback: metrics(tp: 5, fp: 5, tn: 5, fn: 5, loss: 0.8))
        #expect(!gate.judge(current: halfWrong, candidate: pulled, changes: unchanged).promotes)
    }

    @Test func nothingToJudgeOnIsARefusal() {
        let empty = QualityGate.Evaluation(heldOut: Metrics(), feedback: Metrics())
        let none = HeldOutChanges(messages: 0, ham: 0, newErrors: 0, fixedErrors: 0, newFalsePositives: 0, fixedFalsePositives: 0)
        #expect(gate.judge(current: empty, candidate: empty, changes: none) == .refuse(reason: "no held-out data to judge the candidate on"))
    }
}

@Suite("HeldOutChanges and PairedTolerance: the paired comparison behind the gate")
struct PairedComparisonTests {
    @Test func changesAreCountedMessageByMessage() throws {
        // ham, ham, ham, spam, spam, spam
        let labels = [0, 0, 0, 1, 1, 1]
        let before: [Float] = [0.9, 0.1, 0.6, 0.2, 0.8, 0.4]
        let after: [Float] = [0.2, 0.7, 0.55, 0.9, 0.3, 0.5]
        let changes = try #require(HeldOutChanges(labels: labels, before: before, after: after))
        #expect(changes == HeldOutChanges(messages: 6, ham: 3, newErrors: 2, fixedErrors: 3, newFalsePositives: 1, fixedFalsePositives: 1))
        // The nets are the changes of the aggregate figures.
        let now = Metrics(probabilities: before, labels: labels), next = Metrics(probabilities: after, labels: labels)
        #expect(changes.newFalsePositives - changes.fixedFalsePositives == next.fp - now.fp)
        #expect(changes.newErrors - changes.fixedErrors == (next.fp + next.fn) - (now.fp + now.fn))
        #expect(HeldOutChanges(labels: labels, before: before, after: Array(after.dropLast())) == nil)
    }

    @Test func theMarginForChanceGrowsWithTheChangedVerdicts() {
        #expect(abs(PairedTolerance.normalQuantile(0.95) - 1.644854) < 1e-5)
        #expect(abs(PairedTolerance.normalQuantile(0.975) - 1.959964) < 1e-5)
        #expect(abs(PairedTolerance.normalQuantile(0.5)) < 1e-9)
        let plain = PairedTolerance(tolerance: 0.002, confidence: 0.5)
        #expect(plain.allowedCount(population: 500, worse: 3, better: 1) == 1, "0.2% of 500 allows exactly one")
        #expect(plain.refuses(population: 460, worse: 1, better: 0), "0.2% of 460 is 0.92: one is too many with no margin")
        let sure = PairedTolerance(tolerance: 0.002, confidence: 0.95)
        #expect(!sure.refuses(population: 460, worse: 1, better: 0))
        #expect(sure.allowedCount(population: 460, worse: 4, better: 0) == 4)  // 0.92 + 1.645·2
        #expect(sure.refuses(population: 460, worse: 6, better: 0))            // 0.92 + 1.645·√6 = 4.95
        #expect(!sure.refuses(population: 460, worse: 6, better: 2))           // net 4 of 8 changed: 0.92 + 1.645·√8 = 5.57
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
