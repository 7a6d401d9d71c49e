import ControlProtocol
import DaemonTestSupport
import Foundation
import Logging
import Testing
@testable import Learning
import SpamguardService
import Training

/// The real `spamguard` and `spamguardctl` binaries: a daemon with a tiny classifier (trained by `spamguardctl
/// train` on generated mail), corrections dropped into its feedback folders, idleness after half a second.
@Suite("spamguard learns: the real daemon, its feedback folders, promotion, refusal, kill -9", .serialized)
struct DaemonLearningTests {
    struct Setup {
        let root: String
        let world: TinyWorld
        var config: String { root + "/spamguard.conf" }
        var state: String { root + "/state" }
        var folder: FeedbackFolder { FeedbackFolder(root: state + "/feedback") }
        var store: BundleStore { BundleStore(directory: state + "/classifiers") }
        var ledgerPath: String { state + "/learning/ledger.jsonl" }

        var ledger: LedgerState { (try? Ledger.read(path: ledgerPath, logger: quiet)) ?? LedgerState() }

        /// Runs `spamguardctl` to its end at the lowest priority (see `onThread`); its standard error goes to
        /// `<root>/spamguardctl.log`.
        func ctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            let run = try await runProcess(try Products.checkedPath("spamguardctl"), arguments, niceness: lowestPriority)
            try write(run.errors, to: root + "/spamguardctl.log")
            return (run.status, run.output)
        }

        /// Starts a daemon logging to `<root>/<log>`: one log per start, so that what a restart logs is its own. At
        /// nice 19: the daemon's few seconds of work then leave the CPU to the timing-sensitive tests that run
        /// beside this suite. It inherits this process's environment as it is.
        func daemon(log: String = "spamguard.log", killAt point: DaemonProcess.KillPoint? = nil) throws -> DaemonProcess {
            try DaemonProcess(scratch: Scratch(existing: root), configurationPath: config, log: root + "/" + log,
                              environment: ProcessInfo.processInfo.environment, niceness: lowestPriority, killAt: point,
                              stopTimeout: .seconds(30))
        }

        /// Raw messages written to files under `dir`, named in order.
        func files(_ messages: [String], in dir: String) throws -> [String] {
            try messages.enumerated().map { i, message in
                let path = root + "/\(dir)/m-\(String(format: "%03d", i)).eml"
                try write(message, to: path)
                return path
            }
        }

        /// `spamguardctl classify`: how many of `files` the bundle calls spam.
        func spamCount(_ files: [String], bundle: String) async throws -> Int {
            let (status, output) = try await ctl(["classify", "--classifier", bundle, "--base", world.base] + files)
            #expect(status == 0)
            return output.split(separator: "\n").filter { $0.split(separator: "\t").dropFirst().first == "spam" }.count
        }

        /// Edits one line of the configuration (before a restart).
        func setIdleSeconds(_ seconds: Double) throws {
            try replaceInConfig("idle_seconds = 0.5", with: "idle_seconds = \(seconds)")
        }

        func setMinNewExamples(_ count: Int) throws {
            let text = read(config) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix("min_new_examples") }.map(String.init) ?? ""
            try replaceInConfig(line, with: "min_new_examples = \(count)")
        }

        private func replaceInConfig(_ old: String, with new: String) throws {
            let text = read(config) ?? ""
            guard text.contains(old) else { throw HarnessError("\(config) has no line \(old)") }
            try write(text.replacingOccurrences(of: old, with: new), to: config)
        }

        var parentVersion: String { (try? ClassifierBundle.readManifest(URL(fileURLWithPath: world.classifier)).version) ?? "?" }
    }

    static func setup(_ name: String = #function, minNew: Int = 10) async throws -> Setup {
        let root = try temporaryDirectory(name)
        let world = try await onThread { try TinyWorld.make(in: root) }
        let setup = Setup(root: root, world: world)
        let settings = TinyWorld.settings
        try await TinyModels.train(base: world.base, into: world.classifier, [
            "--train", "list:\(world.corpus)/train.tsv", "--val", "list:\(world.corpus)/val.tsv",
            "--epochs", "\(settings.epochs)", "--lr", "\(settings.optimizer.learningRate)", "--weight-decay", "\(settings.optimizer.weightDecay)",
            "--max-tokens", "64", "--headers", "none", "--seed", "\(settings.seed)",
        ], niceness: lowestPriority)
        try write(DaemonProcess.configuration(in: Scratch(existing: root), milterTimeoutSeconds: nil, stateDirectory: "\(root)/state", extra: """
            [feedback]
            idle_seconds = 0.5
            min_new_examples = \(minNew)
            # One message of the tiny validation set is 2.5–4 points: tolerate one.
            max_accuracy_drop = 0.03
            max_fpr_rise = 0.04
            # The tiny world's 6 epochs: one pass of a dozen steps does not reliably learn the campaign.
            epochs_per_run = 0
            [log]
            level = "info"
            """), to: setup.config)
        return setup
    }

    @Test func correctionsArePromotedAndNowClassifyCorrectly() async throws {
        let s = try await Self.setup(minNew: 30)  // one run, on all of them
        defer { remove(s.root) }
        let campaign = try s.files((0..<30).map(TinyWorld.campaign), in: "campaign")
        #expect(try await s.spamCount(campaign, bundle: s.world.classifier) <= 10, "the serving classifier gets most of them wrong")

        let daemon = try s.daemon()
        #expect(await daemon.waitForLog("learning: feedback in"))
        let (status, output) = try await s.ctl(["learn", "--spam", "--config", s.config] + campaign)
        #expect(status == 0 && output.contains("submitted 30 messages as spam"))

        #expect(await daemon.waitForLog("promoted"), "\(daemon.log)")
        let version = try #require(s.store.currentVersion)
        #expect(await daemon.waitForLog("learning: now serving \(version)"), "the model actor swapped it in")
        #expect(try await s.spamCount(campaign, bundle: s.store.directory + "/current") >= 28)

        let models = try await s.ctl(["models", "--config", s.config]).output
        #expect(models.contains("* \(version)"))
        #expect(models.contains("finetuned from \(s.parentVersion)"))
        #expect(models.contains("feedback: 0 waiting, 0 new since the last run, 30 learned"))
        #expect(models.contains("last training run: #1"))
        #expect(models.contains(": promoted \(version)"))
        #expect(await daemon.stop() == 0)
    }

    @Test func poisonedFeedbackIsRefused() async throws {
        let s = try await Self.setup(minNew: 40)
        defer { remove(s.root) }
        let daemon = try s.daemon()
        #expect(await daemon.waitForLog("learning: feedback in"))
        let ham = try s.files((300..<320).map { TinyWorld.ham($0, seed: 9) }, in: "ham")
        let spam = try s.files((300..<320).map { TinyWorld.spam($0 * 3, seed: 9) }, in: "spam")
        #expect(try await s.spamCount(spam, bundle: s.world.classifier) == 20)
        #expect(try await s.spamCount(ham, bundle: s.world.classifier) == 0)
        #expect(try await s.ctl(["learn", "--spam", "--config", s.config] + ham).status == 0)
        #expect(try await s.ctl(["learn", "--ham", "--config", s.config] + spam).status == 0)

        #expect(await daemon.waitForLog("refused candidate"), "\(daemon.log)")
        #expect(s.store.currentVersion == nil, "nothing promoted")
        #expect(!daemon.log.contains("learning: now serving"))
        let models = try await s.ctl(["models", "--config", s.config]).output
        #expect(models.contains("refused candidates"))
        #expect(models.contains("last training run: #1"))
        #expect(models.contains(": refused"))
        #expect(try await s.spamCount(spam, bundle: s.world.classifier) == 20, "the serving classifier is untouched")
        #expect(await daemon.stop() == 0)
    }

    // MARK: kill -9

    /// Everything dropped is in exactly one place: waiting, learned (ledger + learned/) or rejected.
    func expectEveryMessageAccountedFor(_ s: Setup, dropped: Int) {
        let state = s.ledger
        let waiting = (try? s.folder.waiting().count) ?? -1
        #expect(names(s.folder.claimed).isEmpty, "no claim is left unfinished after a start")
        #expect(waiting + state.learned + state.duplicates + state.rejected == dropped)
        #expect(names(s.folder.learned).count == state.learned)
        #expect(state.claims.count == state.learned + state.duplicates + state.rejected)
    }

    @Test func killedWhileClaimingFiles() async throws {
        let s = try await Self.setup(minNew: 1000)
        defer { remove(s.root) }
        try s.folder.prepare()
        for i in 0..<120 { try write(TinyWorld.campaign(i), to: s.folder.inbox(.spam) + "/f-\(String(format: "%03d", i))") }
        // SIGKILL as it renames the 61st file into claimed/.
        let daemon = try s.daemon(killAt: .init(path: s.folder.inbox(.spam) + "/f-060"))
        #expect(await daemon.waitForExit(timeout: .seconds(60)) != nil && daemon.wasKilled, "\(daemon.log)")
        #expect(s.ledger.learned == 60)
        expectEveryMessageAccountedFor(s, dropped: 120)

        let restarted = try s.daemon(log: "restarted.log")
        #expect(await restarted.waitForLog("learning: feedback in"))
        let deadline = Date(timeIntervalSinceNow: 30)
        // A message is recorded in the ledger, then filed: wait for the filing of the last one too.
        while s.ledger.learned < 120 || !names(s.folder.claimed).isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        expectEveryMessageAccountedFor(s, dropped: 120)
        #expect(s.ledger.learned == 120 && s.ledger.duplicates == 0)
        #expect(await restarted.stop() == 0)
    }

    enum RunKillPoint: String, CaseIterable, CustomTestStringConvertible {
        /// In the middle of finetuning.
        case training
        /// As the tensors' fsync'd temporary file is renamed into place: half a bundle, no manifest.
        case writingTheBundle
        /// As the complete bundle is renamed from staging/ into versions/.
        case storingTheVersion
        /// As the new `current` link is renamed over the old: the version stored, the link not switched.
        case switchingCurrent
        var testDescription: String { rawValue }
    }

    @Test(.serialized, arguments: RunKillPoint.allCases)
    func killedInTheMiddleOfARun(at point: RunKillPoint) async throws {
        let s = try await Self.setup(#function + point.rawValue)
        defer { remove(s.root) }
        for (i, message) in (0..<30).map(TinyWorld.campaign).enumerated() {
            try s.folder.drop(Array(message.utf8), label: .spam, name: "c\(i)")
        }
        let store = s.store
        // Time to attach strace before the run starts.
        try s.setIdleSeconds(2)
        let daemon = try s.daemon()
        #expect(await daemon.waitForLog("learning: feedback in"))
        let staging = store.directory + "/staging/run-1"
        switch point {
        case .training:
            #expect(await daemon.waitForLog("learning: run 1 finetuning"))
            daemon.kill9()
        case .writingTheBundle:
            try await daemon.killAt(.init(path: staging + "/.classifier.safetensors.tmp-\(daemon.daemonPID)"))
        case .storingTheVersion:
            try await daemon.killAt(.init(path: staging))
        case .switchingCurrent:
            try await daemon.killAt(.init(path: store.directory + "/.current.new"))
        }
        #expect(await daemon.waitForExit(timeout: .seconds(90)) != nil && daemon.wasKilled, "\(daemon.log)")
        switch point {
        case .training:
            #expect(FileManager.default.fileExists(atPath: staging))
        case .writingTheBundle:
            #expect(names(staging).isEmpty, "only the hidden temporary file, no manifest")
        case .storingTheVersion:
            #expect(FileManager.default.fileExists(atPath: staging + "/manifest.json"))
            #expect(store.versions() == [s.parentVersion], "only the trained classifier, adopted for rollback")
        case .switchingCurrent:
            #expect(store.versions().count == 2, "the trained classifier adopted, the candidate stored")
        }
        #expect(store.currentVersion == nil, "still serving the classifier spamguardctl trained")
        #expect(s.ledger.lastRun == nil && s.ledger.untrained.count == 30, "a run cut short records nothing and uses nothing up")

        // Restarted: the previous classifier serves, the half-written bundle is gone, the ledger reads whole.
        if point != .training { try s.setMinNewExamples(1000) }  // hold the next run back, to look at the recovery
        let restarted = try s.daemon(log: "restarted.log")
        #expect(await restarted.waitForLog("model \(s.parentVersion) loaded"), "\(restarted.log)")
        #expect(await restarted.waitForLog("learning: feedback in"))
        #expect(restarted.log.contains("half-written bundles left by a crash") == (point != .switchingCurrent))
        expectEveryMessageAccountedFor(s, dropped: 30)
        if point == .training {
            // And it learns them after all.
            #expect(await restarted.waitForLog("promoted"), "\(restarted.log)")
            #expect(s.ledger.lastRun?.outcome == .promoted && s.ledger.untrained.isEmpty)
            #expect(store.currentVersion != nil)
        } else {
            #expect(names(store.directory + "/staging").isEmpty)
            #expect(store.currentVersion == nil)
            #expect(s.ledger.lastRun == nil && s.ledger.untrained.count == 30)
        }
        #expect(await restarted.stop() == 0)
    }
}
