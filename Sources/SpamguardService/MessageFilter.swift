import Atomics
import Logging
import MailText
import Synchronization

/// What the filter tells the MTA after a callback.
public enum FilterDecision: Sendable, Equatable {
    /// Go on sending this connection / message.
    case `continue`
    /// Stop filtering: pass this connection (at connect) or this message (later) without scanning.
    case accept
    /// Enough body: skip the rest of it (`SMFIS_SKIP`, when the MTA offers it).
    case skipBody
}

/// The settings the filter reads per message; replaced as a whole on reload.
public struct FilterSettings: Sendable, Equatable {
    public var policy: Policy
    public var skip: Configuration.Skip
    public var maxBodyBytes: Int
    public var deadline: Duration

    public init(_ configuration: Configuration) {
        policy = configuration.policy
        skip = configuration.skip
        maxBodyBytes = configuration.milter.maxBodyBytes
        deadline = .milliseconds(configuration.model.deadlineMilliseconds)
    }
}

/// One SMTP connection's state. Created at connect (or negotiate), freed at close.
///
/// `@unchecked Sendable`: libmilter may run a connection's callbacks on different worker threads, but
/// one after another, never two at once, and its own locking orders them; so the session needs no lock of
/// its own. Nothing else may touch it.
public final class MilterSession: @unchecked Sendable {
    public let client: IPAddress?
    public let clientName: String
    /// The MTA understands `SMFIS_SKIP` (negotiated).
    public var canSkipBody = false
    /// The MTA sends header fields without waiting for a reply to each (`SMFIP_NR_HDR`, negotiated).
    public var headersUnanswered = false
    var message: MessageInProgress?
    private let openSessions: ManagedAtomic<Int>

    fileprivate init(client: IPAddress?, clientName: String, openSessions: ManagedAtomic<Int>) {
        self.client = client
        self.clientName = clientName
        self.openSessions = openSessions
        openSessions.wrappingIncrement(ordering: .relaxed)
    }

    deinit {
        openSessions.wrappingDecrement(ordering: .relaxed)
    }
}

/// A message between MAIL FROM and end-of-message.
struct MessageInProgress {
    /// The model current at MAIL FROM: its extraction options shape the reader, its tokenizer the tokens,
    /// and it classifies the message even if a reload swaps in another model meanwhile.
    let model: any ClassifierModel
    var reader: MessageReader
    var headers = HeaderFacts()
    var bodyBytes = 0
    var queueID: String?
    /// Marks the message in progress for the learning loop until this message is dropped.
    let activity: MailActivity.Token

    init(model: any ClassifierModel, queueID: String?, activity: MailActivity) {
        self.model = model
        self.activity = activity.messageStarted()
        self.reader = MessageReader(options: model.extraction)
        self.queueID = queueID
    }
}

/// The milter's logic, free of libmilter types: connection and message events in, decisions and
/// end-of-message outcomes out. `MilterBridge` calls it from libmilter's threads.
public final class MessageFilter: Sendable {
    private let settings: Mutex<FilterSettings>
    private let models: ModelActor
    private let logger: Logger
    public let counters: MessageCounters
    public let latency: LatencyStats
    /// Mail in progress and the time since the last message, for the learning loop.
    public let activity = MailActivity()
    private let inFlight = ManagedAtomic(0)
    private let openSessions = ManagedAtomic(0)

    public init(
        settings: FilterSettings, models: ModelActor, logger: Logger,
        counters: MessageCounters = MessageCounters(), latency: LatencyStats = LatencyStats()
    ) {
        self.settings = Mutex(settings)
        self.models = models
        self.logger = logger
        self.counters = counters
        self.latency = latency
    }

    public func update(_ settings: FilterSettings) {
        self.settings.withLock { $0 = settings }
    }

    public var currentSettings: FilterSettings { settings.withLock { $0 } }

    /// Messages currently in end-of-message (waiting for the model).
    public var messagesInFlight: Int { inFlight.load(ordering: .relaxed) }

    /// Connection states alive right now (a session is counted until it is freed).
    public var sessionsOpen: Int { openSessions.load(ordering: .relaxed) }

    /// A new connection's state, without the connect-time checks (for an MTA that skipped connect).
    public func openSession(client: IPAddress?, clientName: String) -> MilterSession {
        MilterSession(client: client, clientName: clientName, openSessions: openSessions)
    }

    public func connect(client: IPAddress?, clientName: String) -> (MilterSession, FilterDecision) {
        let session = openSession(client: client, clientName: clientName)
        logger.debug("connection from \(clientName) [\(client.map { "\($0)" } ?? "unknown")] (\(sessionsOpen) open)")
        if let client, currentSettings.skip.covers(client) {
            counters.recordSkipped()
            logger.debug("client \(clientName) [\(client)] is in policy.skip_networks: not scanning this connection")
            return (session, .accept)
        }
        return (session, .continue)
    }

    public func mailFrom(_ session: MilterSession, authenticatedAs user: String?, queueID: String?) -> FilterDecision {
        session.message = nil
        let id = queueID ?? "-"
        if let user, !user.isEmpty, currentSettings.skip.authenticated {
            counters.recordSkipped()
            logger.info("queue_id=\(id) verdict=skipped reason=authenticated user=\(user) action=accept")
            return .accept
        }
        guard let model = models.currentModel else {
            counters.recordSkipped()
            logger.info("queue_id=\(id) verdict=unscanned reason=no-classifier action=accept")
            return .accept
        }
        session.message = MessageInProgress(model: model, queueID: queueID, activity: activity)
        return .continue
    }

    public func header(_ session: MilterSession, name: String, value: [UInt8]) -> FilterDecision {
        guard startMessageIfNeeded(session) else { return .accept }
        session.message!.headers.record(name: name, value: value)
        session.message!.reader.header(name: name, value: value)
        return .continue
    }

    public func endOfHeaders(_ session: MilterSession) -> FilterDecision {
        guard startMessageIfNeeded(session) else { return .accept }
        session.message!.reader.endOfHeaders()
        return .continue
    }

    public func body(_ session: MilterSession, _ chunk: UnsafeRawBufferPointer) -> FilterDecision {
        guard startMessageIfNeeded(session) else { return .accept }
        let limit = currentSettings.maxBodyBytes
        let room = max(0, limit - session.message!.bodyBytes)
        if room > 0 {
            let taken = UnsafeRawBufferPointer(rebasing: chunk.prefix(room))
            session.message!.reader.body(taken)
            session.message!.bodyBytes += taken.count
        }
        return session.message!.bodyBytes >= limit ? .skipBody : .continue
    }

    /// Classifies the message, blocking the calling libmilter thread until the model answers or the
    /// deadline passes, and returns what to do with it.
    public func endOfMessage(_ session: MilterSession, queueID: String?) -> MessageOutcome {
        inFlight.wrappingIncrement(ordering: .relaxed)
        defer { inFlight.wrappingDecrement(ordering: .relaxed) }
        let clock = ContinuousClock()
        let started = clock.now
        let settings = currentSettings
        guard startMessageIfNeeded(session), var message = session.message else {
            return MessageOutcome(action: "accept-unscanned")
        }
        session.message = nil
        let id = queueID ?? message.queueID ?? "-"

        let text = message.reader.finish().classificationText
        let tokens = message.model.tokens(for: text)
        let ticket = ClassificationTicket(tokens: tokens, model: message.model, deadline: started.advanced(by: settings.deadline))
        models.submit(ticket)
        let outcome = ticket.wait()
        let waited = started.duration(to: clock.now)
        latency.record(waited)
        let milliseconds = Self.milliseconds(waited)

        switch outcome {
        case .success(let classification):
            let verdict = settings.policy.decide(score: classification.score)
            let result = MessageOutcome.scanned(
                verdict, policy: settings.policy, modelVersion: classification.modelVersion, headers: message.headers
            )
            counters.record(MessageCounters.Outcome(verdict.action))
            logger.info("""
                queue_id=\(id) verdict=\(verdict.isSpam ? "spam" : "ham") \
                score=\(ScoreFormat.threeDecimals(Double(classification.score))) ms=\(milliseconds) \
                action=\(result.action) model=\(classification.modelVersion) batch=\(classification.batchSize) \
                tokens=\(tokens.count) wait_ms=\(Self.milliseconds(classification.queued)) \
                compute_ms=\(Self.milliseconds(classification.compute))
                """)
            return result
        case .failure(let error):
            let result = MessageOutcome.unclassified(policy: settings.policy, headers: message.headers)
            counters.record(error == .deadlineExceeded ? .timedOut : .failed)
            logger.warning("""
                queue_id=\(id) verdict=unclassified error="\(error)" ms=\(milliseconds) action=\(result.action) \
                on_error=\(settings.policy.onError.rawValue)
                """)
            return result
        }
    }

    public func abort(_ session: MilterSession) {
        if let message = session.message {
            logger.debug("queue_id=\(message.queueID ?? "-") aborted by the MTA")
        }
        session.message = nil
    }

    /// After libmilter's close callback released a session.
    public func connectionClosed() {
        logger.debug("connection closed (\(sessionsOpen) open)")
    }

    /// Headers or body without a MAIL FROM (some test clients skip it): start the message now.
    /// Returns false when there is nothing to scan with (no classifier).
    private func startMessageIfNeeded(_ session: MilterSession) -> Bool {
        if session.message != nil { return true }
        guard let model = models.currentModel else { return false }
        session.message = MessageInProgress(model: model, queueID: nil, activity: activity)
        return true
    }

    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
