/// Score → verdict: what to do with a message the model scored. Pure; thresholds come from `[policy]`.
public struct Policy: Sendable, Equatable {
    /// What to do when a message cannot be classified (deadline missed, model failed).
    public enum OnError: String, Sendable, Equatable, CaseIterable {
        /// Pass the message on unscanned.
        case accept
        /// Answer 451 4.7.1 so the sending MTA retries later.
        case tempfail
    }

    /// `X-Spam-Flag: YES` (and the subject tag) at or above this score.
    public var addHeaderAt: Double = 0.5
    /// Reject with 550 5.7.1 at or above this score; a value above 1 disables rejection.
    public var rejectAt: Double = 0.99
    /// Quarantine (Postfix: hold queue) at or above this score; a value above 1 disables quarantine.
    public var quarantineAt: Double = 2
    /// The text of the 550 5.7.1 reply.
    public var rejectText: String = "Message classified as spam"
    /// Prefixed to the Subject of spam (`"[SPAM] "`); empty leaves the subject alone.
    public var subjectTag: String = ""
    public var onError: OnError = .accept

    public init() {}

    /// Compares in the model's precision (`Float`), so a score of 0.9 meets a threshold of 0.9.
    public func decide(score: Float) -> Verdict {
        let action: Verdict.Action =
            if score >= Float(rejectAt) { .reject }
            else if score >= Float(quarantineAt) { .quarantine }
            else if score >= Float(addHeaderAt) { .flag }
            else { .pass }
        return Verdict(score: score, isSpam: score >= Float(addHeaderAt), action: action)
    }
}

/// The decision for one scanned message.
public struct Verdict: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable {
        /// Ham: add the status headers only.
        case pass
        /// Spam below the reject and quarantine thresholds: add `X-Spam-Flag: YES` (and the subject tag).
        case flag
        /// Spam: flag and quarantine.
        case quarantine
        /// Spam: refuse at SMTP time with 550 5.7.1.
        case reject
    }

    public var score: Float
    public var isSpam: Bool
    public var action: Action
}

/// Formats scores and thresholds the way SpamAssassin-style rules expect: three decimals, `0.973`.
public enum ScoreFormat {
    public static func threeDecimals(_ value: Double) -> String {
        let clamped = value.isNaN ? 0 : max(-1_000_000, min(1_000_000, value))
        let thousandths = Int((abs(clamped) * 1000).rounded())
        let fraction = thousandths % 1000
        let padded = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(clamped < 0 && thousandths != 0 ? "-" : "")\(thousandths / 1000).\(padded)"
    }
}
