import Logging
import TOMLKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's configuration (`/etc/spamguard/spamguard.conf`, TOML). Every key has a default, so an empty
/// file is a valid configuration; unknown keys and out-of-range values are refused with the file and key named.
public struct Configuration: Sendable, Equatable {
    public static let defaultPath = "/etc/spamguard/spamguard.conf"

    public struct Milter: Sendable, Equatable {
        /// libmilter socket: `unix:/path` or `inet:port@host` / `inet6:port@host`.
        public var listen = "unix:/run/spamguard/milter.sock"
        /// libmilter's read/write timeout towards the MTA (`smfi_settimeout`).
        public var timeoutSeconds = 30
        /// Body bytes fed to the text extractor; the MTA is told to skip the rest (`SMFIS_SKIP`).
        public var maxBodyBytes = 256 * 1024
        /// Unix-socket file mode, applied after libmilter creates it (the MTA must be able to connect).
        public var socketMode: mode_t = 0o660
    }

    public struct Model: Sendable, Equatable {
        /// Hugging Face gpt2 layout (config.json, model.safetensors, vocab.json, merges.txt).
        public var base = "/var/lib/spamguard/models/gpt2"
        /// The bundle written by `spamguardctl train`.
        public var classifier = "/var/lib/spamguard/classifier"
        /// Per-message classification deadline (queueing plus compute); a miss follows `policy.on_error`.
        public var deadlineMilliseconds = 5000

        public var location: ModelLocation { ModelLocation(base: base, classifier: classifier) }
    }

    public struct Batching: Sendable, Equatable {
        /// Most messages classified in one forward pass.
        public var maxBatch = 8
        /// How long the first waiting message holds the batch open for more, when the model is idle.
        public var maxWaitMilliseconds = 5
    }

    /// Which messages are not scanned at all.
    public struct Skip: Sendable, Equatable {
        /// Skip senders who authenticated with SMTP AUTH (the `{auth_authen}` macro is set).
        public var authenticated = true
        /// Skip clients connecting from these networks.
        public var networks: [IPNetwork] = []

        public func covers(_ address: IPAddress) -> Bool { networks.contains { $0.contains(address) } }
    }

    /// The learning loop (`[feedback]`): where corrections arrive, when to retrain, what a candidate must pass.
    public struct Feedback: Sendable, Equatable {
        /// Off: feedback is neither taken in nor learned from.
        public var enabled = true
        /// Holds `spam/` and `ham/` (plain files or Maildirs); default `<state.dir>/feedback`.
        public var directory = "/var/lib/spamguard/feedback"
        /// No mail for this long counts as idle: the time to retrain.
        public var idleSeconds = 300.0
        /// Retrain only when at least this many labels have arrived since the last training run.
        public var minNewExamples = 20
        /// Classifier versions kept for `spamguardctl rollback` (the serving one always stays).
        public var keepVersions = 5
        /// Learned and rejected feedback files are deleted after this many days (their ledger records stay).
        public var retentionDays = 30
        /// Feedback files larger than this are rejected.
        public var maxMessageBytes = 10 << 20
        /// A candidate is refused when its accuracy on held-out data falls by more than this (a fraction of the
        /// held-out messages) plus what chance explains at `gateConfidence`.
        public var maxAccuracyDrop = 0.005
        /// A candidate is refused when its false-positive rate on held-out data rises by more than this (a fraction
        /// of the held-out ham) plus what chance explains at `gateConfidence`.
        public var maxFalsePositiveRise = 0.002
        /// How sure the quality gate must be (one-sided, paired) that a candidate is worse beyond a tolerance before
        /// it refuses it; 0.5 leaves no margin for chance. 0.8 from `scripts/learning-experiment` (README): at 0.95 the
        /// three candidates it refused would have passed, and each was worse on the test set.
        public var gateConfidence = 0.8
        /// Percent of each run's new feedback held out of training to judge the candidate on.
        public var holdoutPercent = 20
        /// Examples of the original training data replayed per feedback example, so the model does not forget.
        public var replayRatio = 3.0
        /// Bounds a run's cost: at most this many training examples per run (0: no bound). All the new feedback is
        /// trained on; older feedback and the replay (at `replayRatio`) fill the rest, sampled by run id.
        public var maxExamplesPerRun = 2400
        /// The smallest bound `max_examples_per_run` accepts (besides 0): fewer examples would hardly replay anything.
        public static let minimumExamplesPerRun = 50
        /// Epochs of each run over its examples (0: those `spamguardctl train` gave the first classifier of the
        /// serving one's line, `ClassifierManifest.Training.defaultRunEpochs`). One: a run starts from a trained
        /// classifier, and on SpamAssassin one pass learned as much as three in half the time (README).
        public var epochsPerRun = 1
    }

    public var milter = Milter()
    public var model = Model()
    public var batching = Batching()
    public var policy = Policy()
    public var skip = Skip()
    /// The control socket of `spamguardctl` (mode 0660).
    public var controlSocket = "/run/spamguard/control.sock"
    /// The Prometheus endpoint, `HOST:PORT`; nil (the default) leaves it off.
    public var metricsListen: String?
    /// Where the daemon keeps state (models, classifier bundles, feedback).
    public var stateDirectory = "/var/lib/spamguard"
    public var logLevel: Logger.Level = .info
    public var feedback = Feedback()

    /// The built-in defaults.
    public init() {}

    /// Reads and validates the file at `path`.
    public static func load(from path: String) throws(ConfigurationError) -> Configuration {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw ConfigurationError(file: path, "cannot read the configuration file: \(error)")
        }
        return try Configuration(toml: text, file: path)
    }

    /// Parses and validates TOML text; `file` names the source in errors.
    public init(toml: String, file: String) throws(ConfigurationError) {
        let document: TOMLTable
        do {
            document = try TOMLTable(string: toml)
        } catch let error as TOMLParseError {
            throw ConfigurationError(
                file: file,
                "line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)"
            )
        } catch {
            throw ConfigurationError(file: file, "not valid TOML: \(error)")
        }

        let sections = ["milter", "model", "batching", "policy", "control", "metrics", "state", "log", "feedback"]
        for key in document.keys.sorted() where !sections.contains(key) {
            throw ConfigurationError(file: file, key: key, "unknown section (known: \(sections.joined(separator: ", ")))")
        }

        var milter = try TOMLSectionReader(document: document, section: "milter", file: file)
        self.milter.listen = try milter.string("listen", default: self.milter.listen)
        self.milter.timeoutSeconds = try milter.int("timeout_seconds", default: self.milter.timeoutSeconds, in: 1...3600)
        self.milter.maxBodyBytes = try milter.int("max_body_bytes", default: self.milter.maxBodyBytes, in: 0...(64 << 20))
        let modeText = try milter.string("socket_mode", default: "0660")
        guard let mode = mode_t(modeText, radix: 8), mode <= 0o777 else {
            throw ConfigurationError(file: file, key: "milter.socket_mode", "expected an octal file mode like \"0660\", found \"\(modeText)\"")
        }
        self.milter.socketMode = mode
        try milter.rejectUnknownKeys()
        try Self.validateListen(self.milter.listen, file: file)

        var model = try TOMLSectionReader(document: document, section: "model", file: file)
        self.model.base = try model.string("base", default: self.model.base)
        self.model.classifier = try model.string("classifier", default: self.model.classifier)
        self.model.deadlineMilliseconds = try model.int("deadline_ms", default: self.model.deadlineMilliseconds, in: 1...600_000)
        try model.rejectUnknownKeys()
        guard self.model.deadlineMilliseconds < self.milter.timeoutSeconds * 1000 else {
            throw ConfigurationError(
                file: file, key: "model.deadline_ms",
                "must be shorter than milter.timeout_seconds (\(self.milter.timeoutSeconds) s), found \(self.model.deadlineMilliseconds) ms"
            )
        }

        var batching = try TOMLSectionReader(document: document, section: "batching", file: file)
        self.batching.maxBatch = try batching.int("max_batch", default: self.batching.maxBatch, in: 1...256)
        self.batching.maxWaitMilliseconds = try batching.int("max_wait_ms", default: self.batching.maxWaitMilliseconds, in: 0...10_000)
        try batching.rejectUnknownKeys()

        var policy = try TOMLSectionReader(document: document, section: "policy", file: file)
        self.policy.addHeaderAt = try policy.number("add_header_at", default: self.policy.addHeaderAt, atLeast: 0)
        self.policy.rejectAt = try policy.number("reject_at", default: self.policy.rejectAt, atLeast: 0)
        self.policy.quarantineAt = try policy.number("quarantine_at", default: self.policy.quarantineAt, atLeast: 0)
        self.policy.rejectText = try policy.string("reject_text", default: self.policy.rejectText)
        self.policy.subjectTag = try policy.string("subject_tag", default: self.policy.subjectTag)
        let onError = try policy.string("on_error", default: self.policy.onError.rawValue)
        self.skip.authenticated = try policy.bool("skip_authenticated", default: self.skip.authenticated)
        let networks = try policy.strings("skip_networks", default: [])
        try policy.rejectUnknownKeys()

        guard let onError = Policy.OnError(rawValue: onError) else {
            throw ConfigurationError(file: file, key: "policy.on_error", "expected \"accept\" or \"tempfail\", found \"\(onError)\"")
        }
        self.policy.onError = onError
        guard self.policy.addHeaderAt <= 1 else {
            throw ConfigurationError(file: file, key: "policy.add_header_at", "must be between 0 and 1, found \(self.policy.addHeaderAt)")
        }
        for (key, value) in [("reject_at", self.policy.rejectAt), ("quarantine_at", self.policy.quarantineAt)]
        where value < self.policy.addHeaderAt {
            throw ConfigurationError(
                file: file, key: "policy.\(key)",
                "must be at least add_header_at (\(self.policy.addHeaderAt)), found \(value); use a value above 1 to disable"
            )
        }
        try Self.validateReplyText(self.policy.rejectText, key: "policy.reject_text", file: file)
        try Self.validateHeaderText(self.policy.subjectTag, key: "policy.subject_tag", file: file)
        self.skip.networks = try networks.map { (text) throws(ConfigurationError) -> IPNetwork in
            guard let network = IPNetwork(text) else {
                throw ConfigurationError(file: file, key: "policy.skip_networks", "\"\(text)\" is not an address or a network in CIDR notation")
            }
            return network
        }

        var control = try TOMLSectionReader(document: document, section: "control", file: file)
        self.controlSocket = try control.string("socket", default: self.controlSocket)
        try control.rejectUnknownKeys()

        var metrics = try TOMLSectionReader(document: document, section: "metrics", file: file)
        let metricsListen = try metrics.string("listen", default: "")
        try metrics.rejectUnknownKeys()
        if !metricsListen.isEmpty {
            guard HostAndPort.split(metricsListen) != nil else {
                throw ConfigurationError(
                    file: file, key: "metrics.listen",
                    "expected HOST:PORT such as \"127.0.0.1:9733\" or \"[::1]:9733\" (or \"\" for off), found \"\(metricsListen)\""
                )
            }
            self.metricsListen = metricsListen
        }

        var state = try TOMLSectionReader(document: document, section: "state", file: file)
        self.stateDirectory = try state.string("dir", default: self.stateDirectory)
        try state.rejectUnknownKeys()

        var feedback = try TOMLSectionReader(document: document, section: "feedback", file: file)
        self.feedback.enabled = try feedback.bool("enabled", default: self.feedback.enabled)
        self.feedback.directory = try feedback.string("dir", default: self.stateDirectory + "/feedback")
        self.feedback.idleSeconds = try feedback.number("idle_seconds", default: self.feedback.idleSeconds, atLeast: 0)
        self.feedback.minNewExamples = try feedback.int("min_new_examples", default: self.feedback.minNewExamples, in: 1...1_000_000)
        self.feedback.keepVersions = try feedback.int("keep_versions", default: self.feedback.keepVersions, in: 1...1000)
        self.feedback.retentionDays = try feedback.int("retention_days", default: self.feedback.retentionDays, in: 0...36500)
        self.feedback.maxMessageBytes = try feedback.int("max_message_bytes", default: self.feedback.maxMessageBytes, in: 1...(1 << 30))
        self.feedback.maxAccuracyDrop = try feedback.number("max_accuracy_drop", default: self.feedback.maxAccuracyDrop, atLeast: 0)
        self.feedback.maxFalsePositiveRise = try feedback.number("max_fpr_rise", default: self.feedback.maxFalsePositiveRise, atLeast: 0)
        self.feedback.gateConfidence = try feedback.number("gate_confidence", default: self.feedback.gateConfidence, in: 0.5...0.9999)
        self.feedback.holdoutPercent = try feedback.int("holdout_percent", default: self.feedback.holdoutPercent, in: 0...90)
        self.feedback.replayRatio = try feedback.number("replay_ratio", default: self.feedback.replayRatio, atLeast: 0)
        self.feedback.maxExamplesPerRun = try feedback.int("max_examples_per_run", default: self.feedback.maxExamplesPerRun, in: 0...10_000_000)
        if (1..<Feedback.minimumExamplesPerRun).contains(self.feedback.maxExamplesPerRun) {
            throw ConfigurationError(file: file, key: "feedback.max_examples_per_run", """
                must be 0 (no bound) or at least \(Feedback.minimumExamplesPerRun), found \(self.feedback.maxExamplesPerRun)
                """)
        }
        self.feedback.epochsPerRun = try feedback.int("epochs_per_run", default: self.feedback.epochsPerRun, in: 0...100)
        try feedback.rejectUnknownKeys()

        var log = try TOMLSectionReader(document: document, section: "log", file: file)
        let level = try log.string("level", default: self.logLevel.rawValue)
        try log.rejectUnknownKeys()
        guard let level = Logger.Level(rawValue: level) else {
            let known = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(file: file, key: "log.level", "expected one of \(known), found \"\(level)\"")
        }
        self.logLevel = level

        for (key, path) in [
            ("model.base", self.model.base), ("model.classifier", self.model.classifier),
            ("control.socket", self.controlSocket), ("state.dir", self.stateDirectory),
            ("feedback.dir", self.feedback.directory),
        ] where !path.hasPrefix("/") {
            throw ConfigurationError(file: file, key: key, "must be an absolute path, found \"\(path)\"")
        }
    }

    private static func validateListen(_ listen: String, file: String) throws(ConfigurationError) {
        let key = "milter.listen"
        if let path = listen.dropPrefix("unix:") ?? listen.dropPrefix("local:") {
            guard path.hasPrefix("/") else {
                throw ConfigurationError(file: file, key: key, "a unix socket needs an absolute path (unix:/run/spamguard/milter.sock), found \"\(listen)\"")
            }
            guard path.utf8.count < 108 else {
                throw ConfigurationError(file: file, key: key, "unix socket path is longer than 107 bytes")
            }
            return
        }
        if let rest = listen.dropPrefix("inet:") ?? listen.dropPrefix("inet6:") {
            let port = rest.split(separator: "@", maxSplits: 1).first.map(String.init) ?? ""
            guard let number = Int(port), (1...65535).contains(number) else {
                throw ConfigurationError(file: file, key: key, "expected inet:PORT@HOST with a port between 1 and 65535, found \"\(listen)\"")
            }
            return
        }
        throw ConfigurationError(
            file: file, key: key,
            "expected \"unix:/path/to/socket\", \"inet:PORT@HOST\" or \"inet6:PORT@HOST\", found \"\(listen)\""
        )
    }

    /// SMTP reply text: printable ASCII, no `%` (libmilter treats it as a format character).
    private static func validateReplyText(_ text: String, key: String, file: String) throws(ConfigurationError) {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x20...0x7e).contains($0) && $0 != UInt8(ascii: "%") }) else {
            throw ConfigurationError(file: file, key: key, "must be non-empty printable ASCII without \"%\", found \"\(text)\"")
        }
    }

    private static func validateHeaderText(_ text: String, key: String, file: String) throws(ConfigurationError) {
        guard text.utf8.allSatisfy({ (0x20...0x7e).contains($0) }) else {
            throw ConfigurationError(file: file, key: key, "must be printable ASCII (no line breaks), found \"\(text)\"")
        }
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}

/// Reads a whole (small) text file.
func readTextFile(_ path: String) throws -> String {
    guard let file = fopen(path, "rb") else { throw SystemError(errno: errno) }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if count > 0 { bytes.append(contentsOf: chunk[..<count]) }
        if count < chunk.count {
            if ferror(file) != 0 { throw SystemError(errno: errno) }
            break
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// An `errno` with its text.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public var errno: Int32
    public init(errno: Int32) { self.errno = errno }
    public var description: String { String(cString: strerror(errno)) }
}
