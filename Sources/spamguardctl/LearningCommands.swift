import ArgumentParser
import ControlProtocol
import Foundation
import Learning
import Logging
import SpamguardService

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
            Each FILE is one raw message (- reads one from standard input, e.g. from a Sieve pipe). When the \
            daemon runs, the messages go over its control socket — only root and the daemon's user may do that — \
            and the daemon drops them into its feedback folder ([feedback] dir, spam/ or ham/). When it does not \
            run (no socket, or nobody listening on it), they are dropped into the folder directly, which needs \
            write access to it (the mail system's group), and wait there until it starts. Either way they go the \
            way of a Sieve rule's or an IMAP move's drop: claimed within a second, recorded in the ledger, and \
            learned the next time the daemon has been idle with enough new corrections (or at once after \
            `spamguardctl train-now`). The same message again counts once; the same message with the other \
            label corrects its label. Files that are not mail are refused here and now.

            \(DaemonExit.summary)
            """)

    @OptionGroup var connection: DaemonConnectionOptions
    @Flag(help: "The messages are spam.") var spam = false
    @Flag(help: "The messages are ham (wanted mail).") var ham = false
    @Argument(help: ArgumentHelp("Raw messages; - for standard input.", valueName: "FILE")) var files: [String]

    /// Raw message bytes per request: a larger message goes alone (the daemon takes lines as long as its
    /// [feedback] max_message_bytes calls for, from root and its own user).
    static let requestBytes = 4 << 20

    func validate() throws {
        guard spam != ham else { throw ValidationError("say what the messages are: --spam or --ham") }
        guard !files.isEmpty else { throw ValidationError("no messages given") }
    }

    func run() throws {
        let label: FeedbackLabel = spam ? .spam : .ham
        var failed = false
        var messages: [FeedbackSubmission] = []
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
            messages.append(FeedbackSubmission(name: path == "-" ? "stdin" : path, bytes: bytes))
        }
        guard !messages.isEmpty else { throw ExitCode(1) }

        let plural = { (count: Int) in "\(count) message\(count == 1 ? "" : "s")" }
        if let receipt = try connection.ifRunning({ client, timeout throws(ControlClientError) in
            try Self.submit(messages, as: label, to: client, timeout: timeout)
        }) {
            for (name, reason) in receipt.refused.sorted(by: { $0.key < $1.key }) { warn("\(name): \(reason); not submitted") }
            failed = failed || !receipt.refused.isEmpty
            say("submitted \(plural(receipt.queued.count)) as \(label) through the daemon")
        } else {
            let configuration = try connection.configuration()
            let folder = FeedbackFolder(root: configuration.feedback.directory)
            guard FileManager.default.fileExists(atPath: folder.inbox(label)) else {
                throw ValidationError("spamguard is not running, and there is no feedback folder at \(folder.inbox(label)) yet; the daemon creates it when it starts ([feedback] dir)")
            }
            var queued = 0
            for message in messages {
                if let reason = MailCheck.submissionRefusal(of: message.bytes, maxBytes: configuration.feedback.maxMessageBytes) {
                    warn("\(message.name): \(reason); not submitted")
                    failed = true
                    continue
                }
                try folder.drop(message.bytes, label: label, name: message.name)
                queued += 1
            }
            say("submitted \(plural(queued)) as \(label) to \(folder.inbox(label)) (spamguard is not running: it takes them in when it starts)")
        }
        if failed { throw ExitCode(1) }
    }

    /// Sends the messages in requests of about `requestBytes` each; one receipt for all.
    static func submit(_ messages: [FeedbackSubmission], as label: FeedbackLabel, to client: ControlClient, timeout: Duration) throws(ControlClientError) -> LearnReceipt {
        var receipt = LearnReceipt(queued: [], refused: [:])
        var start = 0
        while start < messages.count {
            var end = start + 1
            var size = messages[start].bytes.count
            while end < messages.count, size + messages[end].bytes.count <= requestBytes {
                size += messages[end].bytes.count
                end += 1
            }
            let part = try client.request(.learn, arguments: .learn(label, Array(messages[start..<end])), expecting: LearnReceipt.self, timeout: timeout)
            receipt.queued += part.queued
            receipt.refused.merge(part.refused) { first, _ in first }
            start = end
        }
        return receipt
    }
}

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the classifier versions with their figures, which one serves, refused candidates and the last training run.",
        discussion: """
            Asks the running daemon over its control socket (anyone who can open the socket may). When it does \
            not run (no socket, or nobody listening on it), reads the classifier store (<state dir>/classifiers) \
            and the learning ledger directly, and says so. --json prints {"source": "daemon" or "files", \
            "models": …, "learning": …} as the control protocol has them (docs/control-protocol.md).

            \(DaemonExit.summary)
            """)

    @OptionGroup var connection: DaemonConnectionOptions
    @Flag(help: "Print JSON: the versions and the learning status.") var json = false

    struct Report: Encodable {
        var source: String
        var models: ModelList
        var learning: LearningStatus
    }

    func run() throws {
        let report: Report
        if let (list, stats) = try connection.ifRunning({ client, timeout throws(ControlClientError) in
            (try client.request(.models, expecting: ModelList.self, timeout: timeout), try client.request(.stats, expecting: StatsReport.self, timeout: timeout))
        }) {
            guard let learning = stats.learning else { throw DaemonExit.report(.malformedResponse("stats has no learning section")) }
            report = Report(source: "daemon", models: list, learning: learning)
        } else {
            let configuration = try connection.configuration()
            let paths = LearningPaths(configuration)
            let state = try Ledger.read(path: paths.ledger, logger: offlineLogger)
            let catalog = ModelCatalog(store: BundleStore(directory: paths.store), configured: configuration.model.classifier)
            let paused = FileManager.default.fileExists(atPath: paths.pausedMarker)
            report = Report(
                source: "files", models: catalog.list(state),
                learning: LearningStatus(state: state, folder: FeedbackFolder(root: paths.feedback), serving: catalog.servingCreated(),
                                         paused: paused, activity: "not running"))
            if !json { say("spamguard is not running: read from \(paths.store) and \(paths.ledger)") }
        }
        if json {
            print(String(decoding: try prettyJSON(report), as: UTF8.self))
        } else {
            print(Self.text(report.models, report.learning, now: Date()), terminator: "")
        }
    }

    static func text(_ list: ModelList, _ status: LearningStatus, now: Date) -> String {
        var lines: [String] = []
        if list.versions.isEmpty {
            lines.append("no classifier yet (train one with spamguardctl train)")
        } else {
            lines.append(list.configured.map { "serving \($0) (the learning loop has promoted no version yet):" } ?? "classifier versions (newest first; * serves):")
            for version in list.versions {
                var line = "\(version.serving ? "*" : " ") \(version.version)  created \(time(version.created))"
                line += version.parent.map { "  finetuned from \($0)" } ?? "  trained by spamguardctl train"
                if let held = version.heldOut { line += "  held-out \(figures(held))" }
                if let feedback = version.feedback { line += "  new feedback \(figures(feedback))" }
                lines.append(line)
            }
        }
        if !list.refused.isEmpty {
            lines.append("refused candidates:")
            for candidate in list.refused { lines.append("  \(candidate.version) (\(candidate.directory)): \(candidate.reason)") }
        }
        return (lines + learningLines(status, now: now)).joined(separator: "\n") + "\n"
    }

    /// The learning status for people: `models`, and the learning section of `stats`.
    static func learningLines(_ status: LearningStatus, now: Date) -> [String] {
        var lines: [String] = []
        let feedback = status.feedback
        lines.append("feedback: \(feedback.waiting) waiting, \(feedback.untrained) new since the last run, \(feedback.learned) learned "
            + "(\(feedback.relabeled) relabeled, \(feedback.duplicates) duplicates), \(feedback.rejected) rejected")
        if let run = status.lastRun {
            lines.append("""
                last training run: #\(run.id) at \(time(run.started)), \(String(format: "%.1f", run.seconds)) s, \(run.examples) examples \
                (\(run.feedbackExamples) feedback, \(run.replayedExamples) replayed): \(run.outcome)\(run.candidate.map { " \($0)" } ?? "") — \(run.reason)
                """)
        } else {
            lines.append("no training run yet")
        }
        var loop = "loop: \(status.activity)"
        if status.paused { loop = "training paused by an operator (spamguardctl resume-training); " + loop }
        if status.trainNowRequested { loop += "; train-now requested" }
        lines.append(loop)
        if let version = status.servingVersion, let created = status.servingCreated {
            lines.append("serving \(version), created \(duration(now.timeIntervalSince(created))) ago")
        }
        return lines
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
}

struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Serve an earlier classifier version: the one before the serving one, or VERSION.",
        discussion: """
            When the daemon runs, asks it over its control socket (only root and the daemon's user may): it \
            switches the classifier store's current link, records the change in its ledger and serves the \
            version from the next message on. When it does not run (no socket, or nobody listening on it), \
            switches the link and records the change directly; the daemon serves the version when it starts. \
            `spamguardctl models` lists the versions.

            \(DaemonExit.summary)
            """)

    @OptionGroup var connection: DaemonConnectionOptions
    @Argument(help: ArgumentHelp("The version to serve (default: the one before the serving one).", valueName: "VERSION"))
    var version: String?

    func run() throws {
        if let report = try connection.ifRunning(defaultTimeout: 120, { client, timeout throws(ControlClientError) in
            try client.request(.rollback, arguments: .rollback(to: version), expecting: RollbackReport.self, timeout: timeout)
        }) {
            say(report.applied
                ? "now serving \(report.to) (was \(report.from ?? "none"))"
                : "the store now points at \(report.to) (was \(report.from ?? "none")), but the daemon could not load it and keeps serving the previous classifier: see its log")
            if !report.applied { throw DaemonExit.refused }
            return
        }
        let configuration = try connection.configuration()
        let paths = LearningPaths(configuration)
        let (from, to) = try BundleStore(directory: paths.store).rollback(to: version)
        if FileManager.default.fileExists(atPath: paths.ledger) {
            let ledger = try Ledger(path: paths.ledger, create: false, logger: offlineLogger)
            try ledger.recordServing(ServingRecord(version: to, previous: from, reason: "rollback (spamguardctl, daemon not running)", time: Date()))
        }
        say("spamguard is not running: \(paths.store) now serves \(to) (was \(from ?? "none")) from the daemon's next start")
    }
}

/// The commands that ask the running daemon to change how it trains: one request, answered with the learning
/// status it leaves, which `report` puts in words. Only over the control socket: the state is the daemon's.
protocol TrainingRequestCommand: ParsableCommand {
    static var operation: ControlOperation { get }
    var connection: DaemonConnectionOptions { get }
    static func report(_ status: LearningStatus) -> String
}

extension TrainingRequestCommand {
    func run() throws {
        say(Self.report(try connection.request(Self.operation, expecting: LearningStatus.self)))
    }

    /// The --help text: how the command reaches the daemon, then `more`.
    static func discussion(_ more: String) -> String {
        "Asks the running daemon over its control socket (only root and the daemon's user may). \(more)\n\n\(DaemonExit.summary)"
    }
}

struct PauseTrainingCommand: TrainingRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause-training", abstract: "Stop the learning loop from training until resume-training (a run in progress holds at its next step).",
        discussion: discussion("Feedback is still taken in; it waits for the resume. The pause survives restarts (<state dir>/learning/training-paused)."))
    static let operation = ControlOperation.pauseTraining
    @OptionGroup var connection: DaemonConnectionOptions

    static func report(_ status: LearningStatus) -> String {
        "training paused (\(status.activity)); \(status.feedback.untrained) new corrections wait for spamguardctl resume-training"
    }
}

struct ResumeTrainingCommand: TrainingRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume-training", abstract: "Let the learning loop train again after pause-training.", discussion: discussion(""))
    static let operation = ControlOperation.resumeTraining
    @OptionGroup var connection: DaemonConnectionOptions

    static func report(_ status: LearningStatus) -> String {
        "training resumed (\(status.activity)); \(status.feedback.untrained) new corrections\(status.trainNowRequested ? ", train-now requested" : "")"
    }
}

struct TrainNowCommand: TrainingRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-now", abstract: "Start a training run on the new corrections now, without waiting for the daemon to be idle.",
        discussion: discussion("""
            The run starts within a second if at least one correction is new since the last run ([feedback] \
            min_new_examples does not apply) and training is not paused; it still steps aside for every message \
            being classified. With nothing new, the request lapses. `spamguardctl stats` or `models` shows the run.
            """))
    static let operation = ControlOperation.trainNow
    @OptionGroup var connection: DaemonConnectionOptions

    static func report(_ status: LearningStatus) -> String {
        let pending = status.feedback.untrained + status.feedback.waiting
        if status.activity.hasPrefix("training") {
            return "a run is in progress already (\(status.activity)); the corrections that came since wait for the next one"
        } else if pending == 0 {
            return "nothing new to learn since the last run: no run starts"
        } else if status.paused {
            return "training is paused: the run on \(pending) new corrections starts after spamguardctl resume-training"
        }
        return "training requested: a run on \(pending) new corrections starts within a second"
    }
}

func prettyJSON(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return try encoder.encode(value)
}
