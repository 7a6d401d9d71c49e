/// How a candidate's verdicts on the held-out messages differ from the serving classifier's, message by message.
///
/// Two classifiers measured on the same messages mostly agree; what tells them apart is the messages on which they
/// disagree (the discordant pairs of a paired comparison). The net change of a count — `newErrors − fixedErrors`,
/// `newFalsePositives − fixedFalsePositives` — is exactly the change of the aggregate figure, and how many
/// messages changed at all says how much of that change chance could explain.
public struct HeldOutChanges: Sendable, Codable, Equatable {
    /// Held-out messages, and the ham among them.
    public var messages: Int
    public var ham: Int
    /// Messages the serving classifier got right that the candidate gets wrong.
    public var newErrors: Int
    /// Messages the serving classifier got wrong that the candidate gets right.
    public var fixedErrors: Int
    /// Ham the serving classifier let through that the candidate calls spam.
    public var newFalsePositives: Int
    /// Ham the serving classifier called spam that the candidate lets through.
    public var fixedFalsePositives: Int

    public init(messages: Int, ham: Int, newErrors: Int, fixedErrors: Int, newFalsePositives: Int, fixedFalsePositives: Int) {
        self.messages = messages
        self.ham = ham
        self.newErrors = newErrors
        self.fixedErrors = fixedErrors
        self.newFalsePositives = newFalsePositives
        self.fixedFalsePositives = fixedFalsePositives
    }

    /// Compares two classifiers' spam probabilities for the same messages (labels: 1 = spam, 0 = ham), each called
    /// spam at or above `threshold` as `Metrics` does; nil when the three lists differ in length.
    public init?(labels: [Int], before: [Float], after: [Float], threshold: Float = 0.5) {
        guard before.count == labels.count, after.count == labels.count else { return nil }
        self.init(messages: labels.count, ham: 0, newErrors: 0, fixedErrors: 0, newFalsePositives: 0, fixedFalsePositives: 0)
        for (label, (p, q)) in zip(labels, zip(before, after)) {
            let wasRight = (p >= threshold ? 1 : 0) == label, isRight = (q >= threshold ? 1 : 0) == label
            if label == 0 { ham += 1 }
            switch (wasRight, isRight) {
            case (true, false):
                newErrors += 1
                if label == 0 { newFalsePositives += 1 }
            case (false, true):
                fixedErrors += 1
                if label == 0 { fixedFalsePositives += 1 }
            default: break
            }
        }
    }
}
