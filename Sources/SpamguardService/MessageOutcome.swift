/// A change to the message's header, applied by the milter at end-of-message.
public enum HeaderEdit: Sendable, Equatable {
    case add(name: String, value: String)
    /// Replace the `index`-th (1-based) occurrence of `name`.
    case change(name: String, index: Int, value: [UInt8])
    /// Delete the `index`-th (1-based) occurrence of `name`.
    case delete(name: String, index: Int)
}

/// What the milter does with one message at end-of-message: header edits, quarantine, and the SMTP reply.
public struct MessageOutcome: Sendable, Equatable {
    public enum Reply: Sendable, Equatable {
        /// Let the message through (with `edits` applied).
        case accept
        /// 550 5.7.1 `text`.
        case reject(text: String)
        /// 451 4.7.1 `text`: the sender's MTA retries later.
        case tempfail(text: String)
    }

    public var edits: [HeaderEdit] = []
    public var quarantineReason: String?
    public var reply: Reply = .accept
    /// The action as it appears in the per-message log line.
    public var action: String

    /// Headers a scanned message gets (and that the daemon removes when a message arrives already carrying them,
    /// so that nobody upstream can pre-label their own mail).
    public static let spamHeaderNames = ["X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"]

    /// The outcome for a message the model scored.
    public static func scanned(
        _ verdict: Verdict, policy: Policy, modelVersion: String, headers: HeaderFacts
    ) -> MessageOutcome {
        if verdict.action == .reject {
            return MessageOutcome(reply: .reject(text: policy.rejectText), action: "reject")
        }
        let score = ScoreFormat.threeDecimals(Double(verdict.score))
        let required = ScoreFormat.threeDecimals(policy.addHeaderAt)
        var edits = removingForgedSpamHeaders(headers)
        if verdict.isSpam {
            edits.append(.add(name: "X-Spam-Flag", value: "YES"))
        }
        edits.append(.add(name: "X-Spam-Score", value: score))
        edits.append(.add(
            name: "X-Spam-Status",
            value: "\(verdict.isSpam ? "Yes" : "No"), score=\(score) required=\(required) model=\(modelVersion)"
        ))
        if verdict.isSpam, !policy.subjectTag.isEmpty {
            let tag = Array(policy.subjectTag.utf8)
            if let subject = headers.subject {
                if !subject.starts(with: tag) {
                    edits.append(.change(name: "Subject", index: 1, value: tag + subject))
                }
            } else {
                edits.append(.add(name: "Subject", value: policy.subjectTag))
            }
        }
        var outcome = MessageOutcome(edits: edits, action: verdict.action.rawValue)
        if verdict.action == .quarantine {
            outcome.quarantineReason = "spamguard: score=\(score) model=\(modelVersion)"
        }
        return outcome
    }

    /// The outcome for a message that could not be classified (deadline missed, model failed): `on_error`.
    public static func unclassified(policy: Policy, headers: HeaderFacts) -> MessageOutcome {
        switch policy.onError {
        case .accept:
            MessageOutcome(edits: removingForgedSpamHeaders(headers), action: "accept-unscanned")
        case .tempfail:
            MessageOutcome(reply: .tempfail(text: "spam classifier unavailable, try again later"), action: "tempfail")
        }
    }

    private static func removingForgedSpamHeaders(_ headers: HeaderFacts) -> [HeaderEdit] {
        var edits: [HeaderEdit] = []
        for name in spamHeaderNames {
            let count = headers.occurrences(of: name)
            // Highest index first, so that the remaining indices do not depend on how the MTA renumbers.
            for index in stride(from: count, through: 1, by: -1) {
                edits.append(.delete(name: name, index: index))
            }
        }
        return edits
    }
}

/// What the outcome needs to know about the headers a message arrived with.
public struct HeaderFacts: Sendable, Equatable {
    /// The first Subject's raw value, if there was one.
    public private(set) var subject: [UInt8]?
    private var spamHeaderCounts: [String: Int] = [:]

    public init() {}

    public mutating func record(name: String, value: [UInt8]) {
        let lowered = name.lowercased()
        if lowered == "subject", subject == nil {
            subject = value
        }
        if let canonical = MessageOutcome.spamHeaderNames.first(where: { $0.lowercased() == lowered }) {
            spamHeaderCounts[canonical, default: 0] += 1
        }
    }

    public func occurrences(of name: String) -> Int { spamHeaderCounts[name, default: 0] }
}
