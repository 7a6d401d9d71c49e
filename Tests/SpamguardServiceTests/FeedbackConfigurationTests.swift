import Testing
@testable import SpamguardService

@Suite("Configuration: [feedback]")
struct FeedbackConfigurationTests {
    func parse(_ toml: String) throws(ConfigurationError) -> Configuration {
        try Configuration(toml: toml, file: "/etc/spamguard/spamguard.conf")
    }

    @Test("the feedback folder defaults to <state.dir>/feedback")
    func directoryFollowsTheStateDirectory() throws {
        #expect(try parse("").feedback == Configuration.Feedback())
        #expect(try parse("").feedback.directory == "/var/lib/spamguard/feedback")
        #expect(try parse("[state]\ndir = \"/srv/sg\"").feedback.directory == "/srv/sg/feedback")
        #expect(try parse("[state]\ndir = \"/srv/sg\"\n[feedback]\ndir = \"/mail/fb\"").feedback.directory == "/mail/fb")
    }

    @Test("every key is read")
    func everyKey() throws {
        let feedback = try parse("""
            [feedback]
            enabled = false
            dir = "/var/mail/feedback"
            idle_seconds = 0.5
            min_new_examples = 3
            keep_versions = 2
            retention_days = 7
            max_message_bytes = 1000
            max_accuracy_drop = 0
            max_fpr_rise = 0.01
            gate_confidence = 0.9
            holdout_percent = 25
            replay_ratio = 1
            max_examples_per_run = 800
            epochs_per_run = 2
            """).feedback
        #expect(!feedback.enabled)
        #expect(feedback.directory == "/var/mail/feedback")
        #expect(feedback.idleSeconds == 0.5)
        #expect(feedback.minNewExamples == 3)
        #expect(feedback.keepVersions == 2)
        #expect(feedback.retentionDays == 7)
        #expect(feedback.maxMessageBytes == 1000)
        #expect(feedback.maxAccuracyDrop == 0)
        #expect(feedback.maxFalsePositiveRise == 0.01)
        #expect(feedback.gateConfidence == 0.9)
        #expect(feedback.holdoutPercent == 25)
        #expect(feedback.replayRatio == 1)
        #expect(feedback.maxExamplesPerRun == 800)
        #expect(feedback.epochsPerRun == 2)
        #expect(Configuration.Feedback().epochsPerRun == 1, "one pass by default")
    }

    @Test("max_examples_per_run: 0 is no bound, a bound below the minimum is refused with a clear message")
    func maxExamplesPerRun() throws {
        #expect(Configuration.Feedback().maxExamplesPerRun > 0, "bounded by default")
        #expect(try parse("[feedback]\nmax_examples_per_run = 0").feedback.maxExamplesPerRun == 0)
        #expect(try parse("[feedback]\nmax_examples_per_run = 50").feedback.maxExamplesPerRun == 50)
        #expect(throws: ConfigurationError(file: "/etc/spamguard/spamguard.conf", key: "feedback.max_examples_per_run",
                                           "must be 0 (no bound) or at least 50, found 10")) {
            try parse("[feedback]\nmax_examples_per_run = 10")
        }
    }

    @Test("bad values name the key")
    func badValues() {
        for (toml, key) in [
            ("[feedback]\nmin_new_examples = 0", "feedback.min_new_examples"),
            ("[feedback]\nidle_seconds = -1", "feedback.idle_seconds"),
            ("[feedback]\ndir = \"relative/path\"", "feedback.dir"),
            ("[feedback]\nholdout_percent = 95", "feedback.holdout_percent"),
            ("[feedback]\ngate_confidence = 1", "feedback.gate_confidence"),
            ("[feedback]\ngate_confidence = 0.4", "feedback.gate_confidence"),
            ("[feedback]\nmax_examples_per_run = -1", "feedback.max_examples_per_run"),
            ("[feedback]\nmax_examples_per_run = 49", "feedback.max_examples_per_run"),
            ("[feedback]\nmax_examples_per_run = 1.5", "feedback.max_examples_per_run"),
            ("[feedback]\nepochs_per_run = -1", "feedback.epochs_per_run"),
            ("[feedback]\nidle = 5", "feedback.idle"),
        ] {
            #expect(throws: ConfigurationError.self) { try parse(toml) }
            do {
                _ = try parse(toml)
            } catch {
                #expect(error.key == key, "\(toml)")
            }
        }
    }
}
