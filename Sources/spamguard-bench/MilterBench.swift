import ArgumentParser
import ControlProtocol
import Foundation
import GPT
import MailText
import SpamguardService
import Training

/// Throughput and latency of the whole daemon — libmilter, text extraction, tokenization, batching, the
/// forward pass, the header edits — driven over its milter socket as Postfix drives it, next to the engine's
/// best batched throughput on the same model and messages, measured in the same run.
struct MilterBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "milter",
        abstract: "Messages/s and p50/p99 latency through the spamguard daemon at 1, 8 and 32 milter connections, "
            + "as a share of the engine's best batched throughput measured in the same run.",
        discussion: """
            For each model of --shape:

            1. Writes a classifier bundle with an untrained (seeded random) head on the base model with the real \
            bundle code (gpt2-124m: first a random-weight base model of that shape, with --model's tokenizer).

            2. Engine reference, in this process before the daemon starts: each message's text is extracted and \
            tokenized exactly as the daemon does it (header fields and body as the milter delivers them, the \
            classifier's extraction settings and token limit), timed on one thread; then the classifier's forward \
            pass alone (SpamClassifier.spamProbabilities, as the daemon's compute thread calls it) runs at each \
            --engine-batches size on those token sequences. The best messages/s of these is the reference.

            3. Starts the real spamguard daemon (the binary beside this one) in the foreground on a temporary \
            directory: a unix milter socket, the shipped [batching] defaults unless --max-batch/--max-wait-ms, \
            nothing rejected or quarantined, a deadline long enough that no message passes unscanned, the \
            learning loop off, one log line per message to a file.

            4. For each --connections level, that many threads each play Postfix's smtpd: one SMTP session per \
            message (--messages-per-session to reuse a connection, SMFIC_ABORT between messages), speaking milter \
            protocol 6 — option negotiation, CONNECT and the other steps with Postfix's macros, every header field, \
            end-of-headers, body chunks of at most 65535 bytes (CRLF line ends; stopping at SMFIR_SKIP), \
            end-of-message — and reads the replies to the final one. Every reply must carry X-Spam-Status with a \
            score: the run fails otherwise. Messages are the --corpus list (label<TAB>path) in a seeded shuffle, \
            the same order at every level; a warm-up at the highest level comes first.

            Latency is one message's session from connect to the final end-of-message reply (with sessions reused: \
            from MAIL FROM). Messages/s is messages over the level's wall time. "engine now" is the engine \
            reference at its best batch size measured again just before the level (the daemon idle), so that both \
            see the same competition from the rest of the machine; "of engine" compares the level with it. \
            "dialogue p99" is the 99th percentile of the time from a session's start to its end-of-message being \
            sent: the milter dialogue before the verdict, where libmilter's worker pool shows. \
            "batch" is the daemon's mean forward-pass size over the level (from its control \
            socket). "cpu" (engine), "daemon cpu" and "client cpu" are the cores each process kept busy: fewer than \
            the machine has when other work competes, and the load average beside them says how much did. "per cpu" \
            is the daemon's messages per CPU-second as a share of the engine reference's: what the daemon spends \
            besides the forward pass, whatever the competition. The goal \
            lines check, at 8 connections, throughput ≥ 90% of the engine reference and p99 < 3 × p50.
            """
    )

    @Option(help: ArgumentHelp("Base model directory (Hugging Face gpt2 layout).", valueName: "dir"))
    var model = "../shared/models/mailgpt-30m"

    @Option(help: ArgumentHelp("Models, comma-separated: model (--model as it is), gpt2-124m (random weights of GPT-2 124M's shape).", valueName: "list"))
    var shape = "model,gpt2-124m"

    @Option(help: ArgumentHelp("Tokenizer files for gpt2-124m when --model has none.", valueName: "dir"))
    var tokenizer = "../shared/tokenizer"

    @Option(help: ArgumentHelp("Concurrent milter connections, comma-separated.", valueName: "list"))
    var connections = "1,8,32"

    @Option(help: "Messages per level, at least.")
    var messages = 100

    @Option(help: "Seconds per level, at least (a level runs until both --messages and --seconds are reached).")
    var seconds = 10.0

    @Option(help: ArgumentHelp("Warm-up messages at the highest level before the timed levels (default: that level's connection count).", valueName: "n"))
    var warmup: Int?

    @Option(help: "Messages per milter connection (1: a new SMTP session for each message).")
    var messagesPerSession = 1

    @Option(help: ArgumentHelp("Batch sizes of the engine reference, comma-separated.", valueName: "list"))
    var engineBatches = "1,8,32"

    @Option(help: "Seconds of forward passes per engine batch size, at least (again before each level, at the best size).")
    var engineSeconds = 5.0

    @Option(help: "The daemon's [batching] max_batch (default: the shipped default).")
    var maxBatch: Int?

    @Option(help: ArgumentHelp("The daemon's [batching] max_wait_ms (default: the shipped default).", valueName: "ms"))
    var maxWaitMs: Int?

    @Option(help: ArgumentHelp("Token limit of the classifier bundle (capped by the model's positions).", valueName: "tokens"))
    var maxTokens = 256

    @Option(help: ArgumentHelp("A list of messages: label<TAB>path lines, paths relative to the list.", valueName: "file"))
    var corpus = "../shared/corpora/spamassassin/train.tsv"

    @Option(help: ArgumentHelp("The spamguard binary (default: the one beside this executable).", valueName: "path"))
    var daemon: String?

    @Option(help: ArgumentHelp("Print each message that takes longer than this, with its queue ID (for the daemon's log).", valueName: "ms"))
    var traceSlowerThan: Double?

    @Flag(help: "Keep the temporary directory (models, configuration, the daemon's log).")
    var keep = false

    func validate() throws {
        guard messages >= 1, seconds >= 0, messagesPerSession >= 1, maxTokens >= 1, engineSeconds >= 0 else {
            throw ValidationError("--messages, --messages-per-session and --max-tokens must be at least 1; times not negative")
        }
        guard !levels.isEmpty, levels.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--connections: positive numbers, comma-separated") }
        guard !batchSizes.isEmpty, batchSizes.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--engine-batches: positive numbers, comma-separated") }
        for name in shape.split(separator: ",") where BenchClassifier.Shape(rawValue: String(name)) == nil {
            throw ValidationError("--shape: \(name) is not one of \(BenchClassifier.Shape.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    var levels: [Int] { connections.split(separator: ",").compactMap { Int($0) } }
    var batchSizes: [Int] { engineBatches.split(separator: ",").compactMap { Int($0) } }

    func run() throws {
        print("# \(BLASSetup.selectBestCore())")
        BLASSetup.useEngineThreads()
        let executable = daemon ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("spamguard").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ValidationError("no spamguard binary at \(executable): swift build -c release --product spamguard")
        }
        let loaded = try DataSource.list(URL(fileURLWithPath: corpus)).load()
        var rng = SeededRandom(seed: 1)
        let mail = loaded.examples.shuffled(using: &rng).compactMap { example -> (origin: String, message: MilterMessage)? in
            guard case .message(let bytes) = example.content else { return nil }
            return (example.origin, MilterMessage(raw: bytes))
        }
        guard !mail.isEmpty else { throw ValidationError("no messages in \(corpus)") }
        let megabytes = Double(mail.reduce(0) { $0 + $1.message.size }) / 1e6
        print("corpus: \(corpus): \(mail.count) messages, \(format(megabytes, 1)) MB (\(loaded.skipped.count) unreadable)")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; load average \(loadAverage())")

        let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("spamguard-milterbench-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer {
            if keep { print("kept \(scratch.path)") } else { try? FileManager.default.removeItem(at: scratch) }
        }
        for name in shape.split(separator: ",") {
            try benchmark(BenchClassifier.Shape(rawValue: String(name))!, mail: mail, executable: executable, scratch: scratch)
        }
    }

    private func benchmark(_ shape: BenchClassifier.Shape, mail: [(origin: String, message: MilterMessage)], executable: String, scratch: URL) throws {
        let classifier = try BenchClassifier.prepare(
            shape, model: URL(fileURLWithPath: model), tokenizer: URL(fileURLWithPath: tokenizer), maxTokens: maxTokens, in: scratch)
        let c = classifier.config
        print("\n## \(classifier.name): \(c.layers) layers, \(c.channels) wide; classifier \(classifier.manifest.version), "
            + "at most \(classifier.manifest.maxTokens) tokens, pooling \(classifier.manifest.pooling.rawValue)")

        let engine = try EngineReference(classifier: classifier, mail: mail.map(\.message), batches: batchSizes, seconds: engineSeconds)
        engine.report()

        let defaults = Configuration().batching
        let settings = DaemonUnderTest.Settings(maxBatch: maxBatch, maxWaitMilliseconds: maxWaitMs)
        let daemon = try DaemonUnderTest(executable: executable, classifier: classifier, settings: settings,
                                         directory: scratch.appendingPathComponent("daemon-\(shape.rawValue)"))
        defer { daemon.stop() }
        let ready = ContinuousClock.now
        _ = try daemon.waitUntilReady()
        print("milter: spamguard pid \(daemon.pid), ready in \(format((ContinuousClock.now - ready).inSeconds, 1)) s; "
            + "max_batch \(maxBatch ?? defaults.maxBatch), max_wait_ms \(maxWaitMs ?? defaults.maxWaitMilliseconds); "
            + (messagesPerSession == 1 ? "a new milter connection for each message" : "\(messagesPerSession) messages per milter connection"))

        let highest = levels.max()!
        let driver = LoadDriver(socket: daemon.milterSocket, mail: mail, messagesPerSession: messagesPerSession,
                                traceSlowerThan: traceSlowerThan)
        _ = try driver.run(connections: highest, messages: warmup ?? highest, seconds: 0, tag: 0)

        print("connections  messages  messages/s    p50 ms    p99 ms  p99/p50  engine now  of engine  batch  dialogue p99  daemon cpu  per cpu  client cpu  load")
        var rows: [Int: (result: LevelResult, reference: EngineReference.Row)] = [:]
        for (index, level) in levels.enumerated() {
            let reference = try engine.measure(batch: engine.best.batch)
            let before = try daemon.stats(), cpuBefore = daemon.cpuSeconds
            var result = try driver.run(connections: level, messages: messages, seconds: seconds, tag: index + 1)
            let after = try daemon.stats()
            let passes = after.batches.forwardPasses - before.batches.forwardPasses
            result.meanBatch = passes > 0 ? Double(Self.classified(after) - Self.classified(before)) / Double(passes) : 0
            result.daemonCores = (daemon.cpuSeconds - cpuBefore) / result.seconds
            rows[level] = (result, reference)
            let perCPU = (result.throughput / result.daemonCores) / (reference.rate / reference.cores)
            print(String(format: "%11d  %8d  %10.2f  %8.1f  %8.1f  %7.2f  %10.2f  %8.1f%%  %5.2f  %12.1f  %10.2f  %6.1f%%  %10.2f  ",
                         level, result.latencies.count, result.throughput, result.p50, result.p99, result.p99 / result.p50,
                         reference.rate, 100 * result.throughput / reference.rate, result.meanBatch, result.dialogueP99,
                         result.daemonCores, 100 * perCPU, result.clientCores)
                + loadAverage())
        }
        daemon.stop()
        try checkTokens(daemon: daemon, engine: engine)

        if let (eight, reference) = rows[8] {
            let share = 100 * eight.throughput / reference.rate
            print(String(format: "goal, 8 connections: %.2f messages/s = %.1f%% of the engine's best (%.2f at batch %d, measured just before; %.1f%% of the first measurement); goal ≥ 90%%: ",
                         eight.throughput, share, reference.rate, reference.batch, 100 * eight.throughput / engine.best.rate)
                + (share >= 90 ? "met" : "NOT met"))
            print(String(format: "goal, 8 connections: p99 %.1f ms = %.2f × p50 %.1f ms; goal < 3×: ",
                         eight.p99, eight.p99 / eight.p50, eight.p50) + (eight.p99 < 3 * eight.p50 ? "met" : "NOT met"))
        }
    }

    private static func classified(_ stats: StatsReport) -> Int {
        stats.batches.sizes.reduce(0) { $0 + (Int($1.key) ?? 0) * $1.value }
    }

    /// The daemon logs each message's token count with its queue ID, which names the message: they must be
    /// the counts the engine reference computed, or the two sides did not classify the same input.
    private func checkTokens(daemon: DaemonUnderTest, engine: EngineReference) throws {
        var checked = 0, differing: [String] = []
        for line in daemon.log.split(separator: "\n") where line.contains("queue_id=") && line.contains(" tokens=") {
            guard let id = field(line, "queue_id"), let tokens = field(line, "tokens").flatMap({ Int($0) }),
                  let index = Int(id.suffix(6), radix: 16), let expected = engine.tokenCount(messageIndex: index) else { continue }
            checked += 1
            if tokens != expected, differing.count < 5 { differing.append("queue_id=\(id): daemon \(tokens), engine \(expected)") }
        }
        guard differing.isEmpty else {
            throw ValidationFailure("token counts differ between the daemon and the engine reference: \(differing.joined(separator: "; "))")
        }
        print("input check: \(checked) of the daemon's messages had the token count the engine reference used")
    }

    private func field(_ line: Substring, _ name: String) -> String? {
        guard let range = line.range(of: " \(name)=") ?? (line.hasPrefix("\(name)=") ? line.range(of: "\(name)=") : nil) else { return nil }
        return String(line[range.upperBound...].prefix { $0 != " " })
    }
}

/// The engine's best batched throughput on the daemon's input for the same messages. Keeps the classifier
/// loaded so that the reference can be measured again right before each level, under the same competition
/// from the rest of the machine as the level itself (the daemon is idle then).
final class EngineReference {
    struct Row { var batch: Int; var rate: Double; var secondsPerBatch: Double; var cores: Double; var load: String }

    private(set) var rows: [Row] = []
    let preparedCount: Int
    let prepareSeconds: Double
    let tokenCounts: [Int]
    let atLimit: Int
    let limit: Int
    private let classifier: SpamClassifier
    private let tokens: [[Int32]]
    private let seconds: Double
    private var next = 0

    var best: Row { rows.max { $0.rate < $1.rate }! }

    func tokenCount(messageIndex: Int) -> Int? { messageIndex < tokenCounts.count ? tokenCounts[messageIndex] : nil }

    /// Loads the classifier as the daemon does, prepares the messages' tokens, and times forward passes.
    init(classifier bench: BenchClassifier, mail: [MilterMessage], batches: [Int], seconds: Double) throws {
        let served = try SpamClassifier.load(base: bench.base, bundle: bench.bundle)
        let maxBody = Configuration().milter.maxBodyBytes
        let clock = ContinuousClock()
        let count = min(mail.count, 1024)
        let start = clock.now
        let tokens = mail.prefix(count).map { Self.daemonTokens($0, classifier: served, maxBodyBytes: maxBody) }
        prepareSeconds = start.duration(to: clock.now).inSeconds
        preparedCount = count
        let counts = tokens.map(\.count), limit = served.tokenLimit
        tokenCounts = counts
        self.limit = limit
        atLimit = counts.filter { $0 >= limit }.count
        classifier = served
        self.tokens = tokens
        self.seconds = seconds
        for size in batches {
            _ = try classifier.spamProbabilities(batch(size))  // buffers for this shape
            rows.append(try measure(batch: size))
        }
    }

    /// Messages/s of forward passes at `size` for at least the reference's seconds (and two passes).
    func measure(batch size: Int) throws -> Row {
        let clock = ContinuousClock()
        var passes = 0
        let start = clock.now, cpu = processCPUSeconds()
        repeat {
            _ = try classifier.spamProbabilities(batch(size))
            passes += 1
        } while start.duration(to: clock.now).inSeconds < seconds || passes < 2
        let elapsed = start.duration(to: clock.now).inSeconds
        return Row(batch: size, rate: Double(passes * size) / elapsed, secondsPerBatch: elapsed / Double(passes),
                   cores: (processCPUSeconds() - cpu) / elapsed, load: loadAverage())
    }

    private func batch(_ size: Int) -> [[Int32]] {
        (0..<size).map { _ in defer { next += 1 }; return tokens[next % tokens.count] }
    }

    /// What `MessageFilter` does between the milter's callbacks and the model actor: the header fields and
    /// at most `maxBodyBytes` of the body, in the chunks libmilter delivers, through a `MessageReader` with the
    /// classifier's extraction options; then the classifier's own tokenization and limit.
    static func daemonTokens(_ message: MilterMessage, classifier: SpamClassifier, maxBodyBytes: Int) -> [Int32] {
        var reader = MessageReader(options: classifier.extraction)
        for (name, value) in message.headers { reader.header(name: name, value: value) }
        reader.endOfHeaders()
        var offset = 0
        let end = min(message.body.count, maxBodyBytes)
        while offset < end {
            let chunkEnd = min(offset + MilterConnection.maxChunk, end)
            reader.body(Array(message.body[offset..<chunkEnd]))
            offset = chunkEnd
        }
        return classifier.tokens(for: reader.finish().classificationText)
    }

    func report() {
        let mean = Double(tokenCounts.reduce(0, +)) / Double(max(1, tokenCounts.count))
        print(String(format: "input: %d messages, %.0f tokens on average, %d%% at the %d-token limit; text + tokens as the daemon makes them: %.2f ms a message (one thread)",
                     preparedCount, mean, 100 * atLimit / max(1, preparedCount), limit, 1000 * prepareSeconds / Double(max(1, preparedCount))))
        print("engine, forward pass only (this process, daemon not running):")
        print("  batch  messages/s   ms/batch   cpu  load")
        for row in rows {
            print(String(format: "  %5d  %10.2f  %9.1f  %4.2f  ", row.batch, row.rate, 1000 * row.secondsPerBatch, row.cores) + row.load)
        }
        print(String(format: "  best: %.2f messages/s at batch %d", best.rate, best.batch))
    }
}

/// One level's figures.
struct LevelResult {
    var latencies: [Double]  // milliseconds, sorted
    /// Milliseconds from the session's start to end-of-message sent (the milter dialogue before the verdict), sorted.
    var dialogues: [Double]
    var seconds: Double
    var clientCores: Double
    var meanBatch = 0.0
    var daemonCores = 0.0

    var throughput: Double { Double(latencies.count) / seconds }
    var p50: Double { percentile(0.50) }
    var p99: Double { percentile(0.99) }
    var dialogueP99: Double { percentile(0.99, of: dialogues) }

    /// Nearest rank.
    func percentile(_ p: Double, of values: [Double]? = nil) -> Double {
        let values = values ?? latencies
        guard !values.isEmpty else { return 0 }
        return values[max(0, Int((p * Double(values.count)).rounded(.up)) - 1)]
    }
}

/// Runs N threads that each play one SMTP client's smtpd towards the milter.
final class LoadDriver: @unchecked Sendable {
    let socket: String
    let mail: [(origin: String, message: MilterMessage)]
    let messagesPerSession: Int
    let traceSlowerThan: Double?
    private let runStart = ContinuousClock.now

    init(socket: String, mail: [(origin: String, message: MilterMessage)], messagesPerSession: Int, traceSlowerThan: Double?) {
        self.socket = socket
        self.mail = mail
        self.messagesPerSession = messagesPerSession
        self.traceSlowerThan = traceSlowerThan
    }

    /// Shared by a level's threads: which message is next, and when to stop starting new ones.
    private final class Level: @unchecked Sendable {
        private let lock = NSLock()
        private var started = 0
        private var stopped = false
        let minimum: Int
        let deadline: ContinuousClock.Instant
        var latencies: [Double] = []
        var dialogues: [Double] = []
        var failure: (any Error)?

        init(minimum: Int, seconds: Double) {
            self.minimum = minimum
            deadline = ContinuousClock.now.advanced(by: .nanoseconds(Int64(seconds * 1e9)))
        }

        /// The next message's number, or nil once enough have started (and the time is up).
        func take() -> Int? {
            lock.withLock {
                guard !stopped, started < minimum || ContinuousClock.now < deadline else { return nil }
                defer { started += 1 }
                return started
            }
        }

        func finish(_ latencies: [Double], _ dialogues: [Double], failure: (any Error)?) {
            lock.withLock {
                self.latencies += latencies
                self.dialogues += dialogues
                if let failure, self.failure == nil { self.failure = failure }
                if failure != nil { stopped = true }
            }
        }

        func fail(_ error: any Error) { finish([], [], failure: error) }
    }

    /// Runs `connections` sessions at once until `messages` have started and `seconds` have passed.
    /// `tag` goes into each queue ID, with the message's index in `mail`.
    func run(connections: Int, messages: Int, seconds: Double, tag: Int) throws -> LevelResult {
        let level = Level(minimum: messages, seconds: seconds)
        let group = DispatchGroup()
        let cpuBefore = processCPUSeconds()
        let clock = ContinuousClock()
        let start = clock.now
        for client in 0..<connections {
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                var latencies: [Double] = [], dialogues: [Double] = []
                do {
                    try session(client: client, tag: tag, level: level, latencies: &latencies, dialogues: &dialogues)
                    level.finish(latencies, dialogues, failure: nil)
                } catch {
                    level.finish(latencies, dialogues, failure: error)
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        let elapsed = start.duration(to: clock.now).inSeconds
        if let failure = level.failure { throw failure }
        return LevelResult(latencies: level.latencies.sorted(), dialogues: level.dialogues.sorted(), seconds: elapsed,
                           clientCores: (processCPUSeconds() - cpuBefore) / elapsed)
    }

    private func session(client: Int, tag: Int, level: Level, latencies: inout [Double], dialogues: inout [Double]) throws {
        let clock = ContinuousClock()
        var connection: MilterConnection?
        var used = 0
        defer { connection?.quit() }
        while let number = level.take() {
            let index = number % mail.count
            let (origin, message) = mail[index]
            let start = clock.now
            if let open = connection {
                open.abortTransaction()
            } else {
                let opened = try MilterConnection(socketPath: socket, timeoutSeconds: 120)
                try opened.open(client: "client\(client).example.org", address: "192.0.2.\(client % 250 + 1)",
                                port: UInt16(40000 + number % 20000), helo: "client\(client).example.org")
                connection = opened
            }
            let queueID = String(format: "%02X%06X", tag % 256, index)
            let reply: EndOfMessageReply
            do {
                reply = try connection!.transaction(message, queueID: queueID, sender: "sender\(number)@example.org", recipient: "user@example.net")
            } catch {
                throw MilterClientError("\(origin): \(error)")
            }
            let milliseconds = start.duration(to: clock.now).inSeconds * 1000
            let dialogue = connection!.endOfMessageSent.map { start.duration(to: $0).inSeconds * 1000 } ?? milliseconds
            latencies.append(milliseconds)
            dialogues.append(dialogue)
            if let limit = traceSlowerThan, milliseconds > limit {
                let verdict = milliseconds - dialogue
                print("slow: queue_id \(queueID) took " + String(format: "%.0f ms (%.0f ms of it after end-of-message), started %.3f s into the run, connection %d",
                             milliseconds, verdict, runStart.duration(to: start).inSeconds, client))
            }
            guard reply.final == UInt8(ascii: "c") || reply.final == UInt8(ascii: "a"),
                  let status = reply.header("X-Spam-Status"), status.contains("score=") else {
                throw MilterClientError("\(origin) (queue_id \(queueID)): no X-Spam-Status with a score in the reply: final '\(String(UnicodeScalar(reply.final)))'"
                    + (reply.replyText.map { " \($0)" } ?? "") + ", headers added: \(reply.added.map { "\($0.name): \($0.value)" })")
            }
            used += 1
            if used == messagesPerSession {
                connection?.quit()
                connection = nil
                used = 0
            }
        }
    }
}


private func format(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

/// This process's user + system CPU seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// The 1, 5 and 15 minute load averages.
func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}
