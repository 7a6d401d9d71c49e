import Foundation
import Training

/// Decides whether a finetuned candidate replaces the serving classifier. Pure: two evaluations and how their
/// verdicts differ message by message in, a verdict with its reason out.
///
/// Both classifiers are measured on the same data: the held-out set (the bundle's validation set plus the slice
/// of new feedback kept out of training) and the new feedback — the held-out slice of it when there is one, so
/// that what counts is how the correction generalises, not whether the candidate memorised the messages it
/// trained on (all new feedback when too little came to hold any out). The candidate is promoted only if
/// - on held-out data it is not worse in accuracy by more than `maxAccuracyDrop`, nor in false-positive rate by
///   more than `maxFalsePositiveRise`, beyond what chance explains at `confidence` (see below), and
/// - it classifies the new feedback better: fewer errors on it — or, when the serving classifier already gets
///   most of it right (feedback that mostly confirms it), as many errors and a lower loss. Feedback the serving
///   classifier mostly gets wrong must see errors fall: a lower loss alone there may only be a pull towards wrong
///   labels (poisoned feedback) that has not yet flipped a verdict.
///
/// The held-out comparison is paired (`HeldOutChanges`): of the n held-out messages (n ham for the false-positive
/// rate), how many the candidate newly gets wrong and how many it newly gets right. It refuses when the net count
/// exceeds tolerance × n plus z·√(newly wrong + newly right) (`PairedTolerance`, a one-sided McNemar test). On a
/// few hundred messages one or two changed verdicts are noise and pass; a large set, or a change that goes one
/// way on many messages, is judged on its figures. At `confidence` 0.5 (z = 0) it is the plain comparison of rates.
public struct QualityGate: Sendable, Equatable {
    /// A classifier's metrics on the two sets the gate looks at.
    public struct Evaluation: Sendable, Codable, Equatable {
        public var heldOut: Metrics
        public var feedback: Metrics

        public init(heldOut: Metrics, feedback: Metrics) {
            self.heldOut = heldOut
            self.feedback = feedback
        }
    }

    public enum Verdict: Sendable, Equatable {
        case promote(reason: String)
        case refuse(reason: String)

        public var reason: String {
            switch self {
            case .promote(let reason), .refuse(let reason): reason
            }
        }

        public var promotes: Bool {
            if case .promote = self { return true }
            return false
        }
    }

    public var maxAccuracyDrop: Double
    public var maxFalsePositiveRise: Double
    /// How sure the gate must be that a candidate is worse beyond a tolerance before it refuses it (one-sided).
    public var confidence: Double

    public init(maxAccuracyDrop: Double, maxFalsePositiveRise: Double, confidence: Double = 0.95) {
        self.maxAccuracyDrop = maxAccuracyDrop
        self.maxFalsePositiveRise = maxFalsePositiveRise
        self.confidence = confidence
    }

    public func judge(current: Evaluation, candidate: Evaluation, changes: HeldOutChanges) -> Verdict {
        let (now, next) = (current.heldOut, candidate.heldOut)
        guard next.count > 0, now.count == next.count else {
            return .refuse(reason: "no held-out data to judge the candidate on")
        }
        guard candidate.feedback.count > 0 else {
            return .refuse(reason: "no new feedback to judge the candidate on")
        }
        guard changes.messages == next.count, changes.ham == next.fp + next.tn, changes.ham == now.fp + now.tn,
              changes.newErrors - changes.fixedErrors == (next.fp + next.fn) - (now.fp + now.fn),
              changes.newFalsePositives - changes.fixedFalsePositives == next.fp - now.fp else {
            return .refuse(reason: "the message-by-message comparison does not match the held-out figures (n=\(changes.messages), expected \(next.count))")
        }
        let accuracy = PairedTolerance(tolerance: maxAccuracyDrop, confidence: confidence)
        let falsePositives = PairedTolerance(tolerance: maxFalsePositiveRise, confidence: confidence)
        let allowedErrors = accuracy.allowedCount(population: changes.messages, worse: changes.newErrors, better: changes.fixedErrors)
        let allowedFalsePositives = falsePositives.allowedCount(population: changes.ham, worse: changes.newFalsePositives,
                                                                better: changes.fixedFalsePositives)
        let errorCounts = "+\(changes.newErrors) newly wrong, −\(changes.fixedErrors) newly right, allowed +\(allowedErrors) at n=\(changes.messages)"
        let falsePositiveCounts = "+\(changes.newFalsePositives) new FP, −\(changes.fixedFalsePositives) fixed, "
            + "allowed +\(allowedFalsePositives) at n=\(changes.ham) ham"
        func terms(_ tolerance: Double) -> String { "tolerance \(percent(tolerance)) plus chance at \(percent(confidence, digits: 0)) confidence" }
        if accuracy.refuses(population: changes.messages, worse: changes.newErrors, better: changes.fixedErrors) {
            return .refuse(reason: "held-out accuracy would fall from \(percent(now.accuracy)) to \(percent(next.accuracy)) "
                + "(\(errorCounts): \(terms(maxAccuracyDrop)))")
        }
        if falsePositives.refuses(population: changes.ham, worse: changes.newFalsePositives, better: changes.fixedFalsePositives) {
            return .refuse(reason: "held-out false-positive rate would rise from \(percent(now.fpr)) to \(percent(next.fpr)) "
                + "(\(falsePositiveCounts): \(terms(maxFalsePositiveRise)))")
        }
        let errorsNow = current.feedback.fp + current.feedback.fn, errorsNext = candidate.feedback.fp + candidate.feedback.fn
        let lossNow = current.feedback.loss ?? .infinity, lossNext = candidate.feedback.loss ?? .infinity
        let mostlyConfirms = 2 * errorsNow < candidate.feedback.count
        guard errorsNext < errorsNow || (errorsNext == errorsNow && mostlyConfirms && lossNext < lossNow) else {
            return .refuse(reason: "it does not classify the new feedback better: \(errorsNext) errors of \(candidate.feedback.count) "
                + "(serving: \(errorsNow)), loss \(String(format: "%.4f", lossNext)) (serving: \(String(format: "%.4f", lossNow)))")
        }
        return .promote(reason: "held-out accuracy \(percent(now.accuracy)) → \(percent(next.accuracy)) (\(errorCounts)), "
            + "false-positive rate \(percent(now.fpr)) → \(percent(next.fpr)) (\(falsePositiveCounts)); "
            + "new feedback errors \(errorsNow) → \(errorsNext) of \(candidate.feedback.count)")
    }

    private func percent(_ x: Double, digits: Int = 2) -> String { String(format: "%.\(digits)f%%", 100 * x) }
}
