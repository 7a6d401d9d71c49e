import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the daemon's log lines go, and at which level (changeable on reload).
public final class LogSink: Sendable {
    public enum Destination: Sendable, Equatable {
        /// Under systemd (`$JOURNAL_STREAM` set): plain lines on stderr with a `<N>` syslog-priority prefix,
        /// which journald turns into the entry's priority.
        case journal
        /// A terminal or a file: `2026-11-25T17:22:03Z info message` on stderr.
        case terminal
        /// Detached from the terminal: syslog(3), facility mail.
        case syslog
    }

    public let destination: Destination
    private let level: Mutex<Logger.Level>

    public init(destination: Destination, level: Logger.Level) {
        self.destination = destination
        self.level = Mutex(level)
        if destination == .syslog { openlog("spamguard", LOG_PID, LOG_MAIL) }
    }

    /// journald when systemd connected our stderr to it, the terminal otherwise.
    public static func foreground(level: Logger.Level) -> LogSink {
        LogSink(destination: environment("JOURNAL_STREAM") != nil ? .journal : .terminal, level: level)
    }

    public var currentLevel: Logger.Level {
        get { level.withLock { $0 } }
    }

    public func setLevel(_ newLevel: Logger.Level) {
        level.withLock { $0 = newLevel }
    }

    public func makeLogger(label: String = "spamguard") -> Logger {
        Logger(label: label) { _ in DaemonLogHandler(sink: self) }
    }

    func write(_ level: Logger.Level, _ text: String) {
        switch destination {
        case .journal:
            writeToStandardError("<\(Self.priority(level))>\(text)\n")
        case .terminal:
            writeToStandardError("\(Self.timestamp()) \(level) \(text)\n")
        case .syslog:
            withVaList([text]) { vsyslog(Self.priority(level), "%s", $0) }
        }
    }

    static func priority(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: LOG_DEBUG
        case .info: LOG_INFO
        case .notice: LOG_NOTICE
        case .warning: LOG_WARNING
        case .error: LOG_ERR
        case .critical: LOG_CRIT
        }
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One line per event: the message, then metadata as sorted `key=value` pairs.
public struct DaemonLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    private let sink: LogSink
    private var overriddenLevel: Logger.Level?

    public init(sink: LogSink) {
        self.sink = sink
    }

    public var logLevel: Logger.Level {
        get { overriddenLevel ?? sink.currentLevel }
        set { overriddenLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        var line = "\(event.message)"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        if let error = event.error { line += " error=\"\(error)\"" }
        sink.write(event.level, line)
    }
}

/// One write(2) per line, so that lines from concurrent threads do not interleave.
private func writeToStandardError(_ line: String) {
    var line = line
    line.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
