import Foundation
import Training

/// Decides whether a finetuned candidate replaces the serving classifier. Pure: two evaluations in, a verdict
/// with its reason out.
///
/// Both classifiers are measured on the same data: the held-out set (the bundle's validation set plus the slice
/// of new feedback kept out of training) and the new feedback itself. The candidate is promoted only if
/// - its held-out accuracy does not fall by more than `maxAccuracyDrop`,
/// - its held-out false-positive rate does not rise by more than `maxFalsePositiveRise`, and
/// - it classifies the new feedback better: fewer errors on it — or, when the serving classifier already made
///   none (feedback that confirms it), a lower loss.
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

    public init(maxAccuracyDrop: Double, maxFalsePositiveRise: Double) {
        self.maxAccuracyDrop = maxAccuracyDrop
        self.maxFalsePositiveRise = maxFalsePositiveRise
    }

    public func judge(current: Evaluation, candidate: Evaluation) -> Verdict {
        let (now, next) = (current.heldOut, candidate.heldOut)
        guard next.count > 0, now.count == next.count else {
            return .refuse(reason: "no held-out data to judge the candidate on")
        }
        guard candidate.feedback.count > 0 else {
            return .refuse(reason: "no new feedback to judge the candidate on")
        }
        // A hair of slack for rounding: tolerances of 0 must accept equal rates.
        let epsilon = 1e-12
        if next.accuracy < now.accuracy - maxAccuracyDrop - epsilon {
            return .refuse(reason: "held-out accuracy would fall from \(percent(now.accuracy)) to \(percent(next.accuracy)) "
                + "(tolerance \(percent(maxAccuracyDrop)), n=\(next.count))")
        }
        if next.fpr > now.fpr + maxFalsePositiveRise + epsilon {
            return .refuse(reason: "held-out false-positive rate would rise from \(percent(now.fpr)) to \(percent(next.fpr)) "
                + "(tolerance \(percent(maxFalsePositiveRise)), \(next.fp + next.tn) ham)")
        }
        let errorsNow = current.feedback.fp + current.feedback.fn, errorsNext = candidate.feedback.fp + candidate.feedback.fn
        let lossNow = current.feedback.loss ?? .infinity, lossNext = candidate.feedback.loss ?? .infinity
        guard errorsNext < errorsNow || (errorsNow == 0 && errorsNext == 0 && lossNext < lossNow) else {
            return .refuse(reason: "it does not classify the new feedback better: \(errorsNext) errors of \(candidate.feedback.count) "
                + "(serving: \(errorsNow)), loss \(String(format: "%.4f", lossNext)) (serving: \(String(format: "%.4f", lossNow)))")
        }
        return .promote(reason: "held-out accuracy \(percent(now.accuracy)) → \(percent(next.accuracy)), "
            + "false-positive rate \(percent(now.fpr)) → \(percent(next.fpr)) (n=\(next.count)); "
            + "new feedback errors \(errorsNow) → \(errorsNext) of \(candidate.feedback.count)")
    }

    private func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
}
