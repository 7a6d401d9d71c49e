import Testing
@testable import SpamguardService

@Suite("Policy: score → verdict → what the milter does")
struct PolicyTests {
    var policy: Policy {
        var policy = Policy()
        policy.addHeaderAt = 0.5
        policy.rejectAt = 0.99
        policy.quarantineAt = 0.9
        return policy
    }

    @Test("thresholds are inclusive and ordered reject > quarantine > flag > pass", arguments: [
        (Float(0.0), Verdict.Action.pass, false),
        (0.499, .pass, false),
        (0.5, .flag, true),
        (0.89, .flag, true),
        (0.9, .quarantine, true),
        (0.989, .quarantine, true),
        (0.99, .reject, true),
        (1.0, .reject, true),
    ])
    func decide(score: Float, action: Verdict.Action, spam: Bool) {
        let verdict = policy.decide(score: score)
        #expect(verdict.action == action)
        #expect(verdict.isSpam == spam)
    }

    @Test("a threshold above 1 disables its action")
    func disabled() {
        var policy = self.policy
        policy.rejectAt = 1.01
        policy.quarantineAt = 2
        #expect(policy.decide(score: 1.0).action == .flag)
    }

    @Test("scores have three decimals", arguments: [
        (0.9734, "0.973"), (0.9735, "0.974"), (0.5, "0.500"), (0, "0.000"), (1, "1.000"), (0.0004, "0.000"),
        (0.05, "0.050"), (2, "2.000"), (-0.25, "-0.250"),
    ])
    func format(value: Double, text: String) {
        #expect(ScoreFormat.threeDecimals(value) == text)
    }

    @Test("ham gets X-Spam-Score and X-Spam-Status: No, nothing else")
    func hamHeaders() {
        let outcome = MessageOutcome.scanned(
            policy.decide(score: 0.12), policy: policy, modelVersion: "m7", headers: HeaderFacts()
        )
        #expect(outcome.reply == .accept)
        #expect(outcome.action == "pass")
        #expect(outcome.quarantineReason == nil)
        #expect(outcome.edits == [
            .add(name: "X-Spam-Score", value: "0.120"),
            .add(name: "X-Spam-Status", value: "No, score=0.120 required=0.500 model=m7"),
        ])
    }

    @Test("spam gets X-Spam-Flag: YES and the subject tag")
    func spamHeaders() {
        var policy = self.policy
        policy.subjectTag = "[SPAM] "
        var headers = HeaderFacts()
        headers.record(name: "Subject", value: Array("cheap pills".utf8))
        let outcome = MessageOutcome.scanned(policy.decide(score: 0.973), policy: policy, modelVersion: "m7", headers: headers)
        #expect(outcome.reply == .accept)
        #expect(outcome.action == "quarantine")
        #expect(outcome.quarantineReason == "spamguard: score=0.973 model=m7")
        #expect(outcome.edits == [
            .add(name: "X-Spam-Flag", value: "YES"),
            .add(name: "X-Spam-Score", value: "0.973"),
            .add(name: "X-Spam-Status", value: "Yes, score=0.973 required=0.500 model=m7"),
            .change(name: "Subject", index: 1, value: Array("[SPAM] cheap pills".utf8)),
        ])
    }

    @Test("the subject is tagged once, and added when missing")
    func subjectTagEdges() {
        var policy = self.policy
        policy.subjectTag = "[SPAM] "
        var tagged = HeaderFacts()
        tagged.record(name: "subject", value: Array("[SPAM] again".utf8))
        let again = MessageOutcome.scanned(policy.decide(score: 0.6), policy: policy, modelVersion: "m", headers: tagged)
        #expect(!again.edits.contains { if case .change = $0 { true } else { false } })
        let none = MessageOutcome.scanned(policy.decide(score: 0.6), policy: policy, modelVersion: "m", headers: HeaderFacts())
        #expect(none.edits.last == .add(name: "Subject", value: "[SPAM] "))
    }

    @Test("spam at reject_at is refused with the configured 5.7.1 text")
    func reject() {
        var policy = self.policy
        policy.rejectText = "Go away"
        let outcome = MessageOutcome.scanned(policy.decide(score: 0.995), policy: policy, modelVersion: "m", headers: HeaderFacts())
        #expect(outcome.reply == .reject(text: "Go away"))
        #expect(outcome.action == "reject")
        #expect(outcome.edits.isEmpty)
    }

    @Test("forged X-Spam-* headers from upstream are deleted, highest index first")
    func forgedHeadersRemoved() {
        var headers = HeaderFacts()
        headers.record(name: "X-Spam-Flag", value: Array("NO".utf8))
        headers.record(name: "x-spam-status", value: Array("No".utf8))
        headers.record(name: "X-SPAM-STATUS", value: Array("No".utf8))
        headers.record(name: "X-Spam-Level", value: Array("***".utf8))
        let outcome = MessageOutcome.scanned(policy.decide(score: 0.7), policy: policy, modelVersion: "m", headers: headers)
        #expect(Array(outcome.edits.prefix(3)) == [
            .delete(name: "X-Spam-Flag", index: 1),
            .delete(name: "X-Spam-Status", index: 2),
            .delete(name: "X-Spam-Status", index: 1),
        ])
        let unscanned = MessageOutcome.unclassified(policy: policy, headers: headers)
        #expect(unscanned.edits.count == 3)
    }

    @Test("on_error decides what an unclassified message gets")
    func onError() {
        var policy = self.policy
        policy.onError = .accept
        #expect(MessageOutcome.unclassified(policy: policy, headers: HeaderFacts()) == MessageOutcome(action: "accept-unscanned"))
        policy.onError = .tempfail
        let tempfail = MessageOutcome.unclassified(policy: policy, headers: HeaderFacts())
        #expect(tempfail.reply == .tempfail(text: "spam classifier unavailable, try again later"))
        #expect(tempfail.action == "tempfail")
    }
}
