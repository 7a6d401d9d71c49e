import ArgumentParser
import Foundation
import Learning
import Logging
import SpamguardService

/// `--config`: where the feedback folder, the classifier store and the ledger are.
struct DaemonConfigurationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's configuration file.", valueName: "path"))
    var config = Configuration.defaultPath

    func load() throws -> Configuration {
        do {
            return try Configuration.load(from: config)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

let offlineLogger: Logger = {
    var logger = Logger(label: "spamguardctl") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}()

struct LearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Teach spamguard: hand it messages it got wrong, as spam or as ham.",
        discussion: """
            Each FILE is one raw message (- reads one from standard input, e.g. from a Sieve pipe). It is dropped \
            into the feedback folder ([feedback] dir, spam/ or ham/) the way a Sieve rule or an IMAP move would \
            drop it; the daemon takes it in within a second, records it in its ledger and learns from it the next \
            time it has been idle with enough new corrections. The same message again counts once; the same \
            message with the other label corrects its label. Files that are not mail are refused here and now.

            This works on the feedback folder directly, so it needs write access to it (the mail system's group). \
            When the control socket is available, the daemon accepts the same request from privileged peers.
            """)

    @OptionGroup var daemon: DaemonConfigurationOptions
    @Flag(help: "The messages are spam.") var spam = false
    @Flag(help: "The messages are ham (wanted mail).") var ham = false
    @Argument(help: ArgumentHelp("Raw messages; - for standard input.", valueName: "FILE")) var files: [String]

    func validate() throws {
        guard spam != ham else { throw ValidationError("say what the messages are: --spam or --ham") }
        guard !files.isEmpty else { throw ValidationError("no messages given") }
    }

    func run() throws {
        let configuration = try daemon.load()
        let label: FeedbackLabel = spam ? .spam : .ham
        let folder = FeedbackFolder(root: configuration.feedback.directory)
        guard FileManager.default.fileExists(atPath: folder.inbox(label)) else {
            throw ValidationError("no feedback folder at \(folder.inbox(label)); the daemon creates it when it starts ([feedback] dir)")
        }
        var failed = false, queued = 0
        for path in files {
            let bytes: [UInt8]
            do {
                bytes = path == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                warn("\(path): cannot read: \((error as NSError).localizedDescription)")
                failed = true
                continue
            }
            if let reason = MailCheck.rejection(of: bytes) {
                warn("\(path): not a mail message (\(reason)); not submitted")
                failed = true
                continue
            }
            if bytes.count > configuration.feedback.maxMessageBytes {
                warn("\(path): \(bytes.count) bytes, over [feedback] max_message_bytes (\(configuration.feedback.maxMessageBytes)); not submitted")
                failed = true
                continue
            }
            try folder.drop(bytes, label: label, name: path == "-" ? "stdin" : path)
            queued += 1
        }
        say("submitted \(queued) message\(queued == 1 ? "" : "s") as \(label) to \(folder.inbox(label))")
        if failed { throw ExitCode(1) }
    }
}

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the classifier versions, which one serves, refused candidates and the last training run.",
        discussion: """
            Reads the classifier store (<state dir>/classifiers) and the learning ledger directly, so it works \
            whether the daemon runs or not.
            """)

    @OptionGroup var daemon: DaemonConfigurationOptions
    @Flag(help: "Print JSON: the versions and the learning status.") var json = false

    struct Report: Encodable {
        var models: ModelList
        var learning: LearningStatus
    }

    func run() throws {
        let configuration = try daemon.load()
        let paths = LearningPaths(configuration)
        let state = try Ledger.read(path: paths.ledger, logger: offlineLogger)
        let store = BundleStore(directory: paths.store)
        let catalog = ModelCatalog(store: store, configured: configuration.model.classifier)
        let list = catalog.list(state)
        let status = LearningStatus(state: state, folder: FeedbackFolder(root: paths.feedback), serving: catalog.servingCreated(),
                                    paused: false, activity: "not asked (read from disk)")
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(Report(models: list, learning: status)), as: UTF8.self))
            return
        }
        if list.versions.isEmpty {
            say("no classifier yet (nothing in \(store.directory), nothing at \(configuration.model.classifier))")
        } else {
            say(list.configured == nil ? "classifier versions in \(store.directory) (newest first; * serves):" : "serving \(list.configured!) (the learning loop has promoted no version yet):")
            for version in list.versions {
                var line = "\(version.serving ? "*" : " ") \(version.version)  created \(Self.time(version.created))"
                line += version.parent.map { "  finetuned from \($0)" } ?? "  trained by spamguardctl train"
                if let held = version.heldOut { line += "  held-out \(Self.figures(held))" }
                if let feedback = version.feedback { line += "  new feedback \(Self.figures(feedback))" }
                say(line)
            }
        }
        if !list.refused.isEmpty {
            say("refused candidates (kept in \(store.directory)/candidates):")
            for candidate in list.refused { say("  \(candidate.version): \(candidate.reason)") }
        }
        let feedback = status.feedback
        say("feedback: \(feedback.waiting) waiting, \(feedback.untrained) new since the last run, \(feedback.learned) learned "
            + "(\(feedback.relabeled) relabeled, \(feedback.duplicates) duplicates), \(feedback.rejected) rejected")
        if let run = status.lastRun {
            say("""
                last training run: #\(run.id) at \(Self.time(run.started)), \(String(format: "%.1f", run.seconds)) s, \(run.examples) examples \
                (\(run.feedbackExamples) feedback, \(run.replayedExamples) replayed): \(run.outcome)\(run.candidate.map { " \($0)" } ?? "") — \(run.reason)
                """)
        } else {
            say("no training run yet")
        }
        if let version = status.servingVersion, let created = status.servingCreated {
            say("serving \(version), created \(Self.age(Date().timeIntervalSince(created))) ago")
        }
    }

    static func time(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }

    static func figures(_ f: ModelFigures) -> String {
        "acc \(percent(f.accuracy)) FPR \(percent(f.falsePositiveRate)) (n=\(f.count))"
    }

    static func age(_ seconds: Double) -> String {
        let s = max(0, Int(seconds))
        return s >= 86400 ? "\(s / 86400)d \(s % 86400 / 3600)h" : s >= 3600 ? "\(s / 3600)h \(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m \(s % 60)s" : "\(s)s"
    }
}

struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Serve an earlier classifier version: the one before the serving one, or VERSION.",
        discussion: """
            Switches the classifier store's current link atomically and records the change in the learning \
            ledger. This works on the store directly: a running daemon serves the version from its next reload \
            (systemctl reload spamguard). `spamguardctl models` lists the versions.
            """)

    @OptionGroup var daemon: DaemonConfigurationOptions
    @Argument(help: ArgumentHelp("The version to serve (default: the one before the serving one).", valueName: "VERSION"))
    var version: String?

    func run() throws {
        let configuration = try daemon.load()
        let paths = LearningPaths(configuration)
        let store = BundleStore(directory: paths.store)
        let (from, to) = try store.rollback(to: version)
        if FileManager.default.fileExists(atPath: paths.ledger) {
            let ledger = try Ledger(path: paths.ledger, create: false, logger: offlineLogger)
            try ledger.recordServing(ServingRecord(version: to, previous: from, reason: "rollback (spamguardctl)", time: Date()))
        }
        say("now serving \(to) (was \(from ?? "none")); reload the daemon to apply it: systemctl reload spamguard")
    }
}
