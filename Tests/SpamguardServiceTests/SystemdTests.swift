import Logging
import Testing
@testable import SpamguardService

@Suite("systemd STATUS line and journal priorities")
struct SystemdTests {
    @Test func statusLine() {
        let counts = MessageCounters.Snapshot(ham: 113, tagged: 5, rejected: 2, skipped: 4, failed: 1)
        #expect(SystemdStatusService.line(model: "v3", counts: counts)
            == "model v3: 120 scanned (7 spam, 2 rejected), 1 unclassified, 4 skipped")
        #expect(SystemdStatusService.line(model: nil, counts: .init())
            == "no classifier trained yet, passing mail unscanned: 0 scanned (0 spam, 0 rejected), 0 unclassified, 0 skipped")
    }

    @Test("levels map to syslog priorities", arguments: [
        (Logger.Level.trace, Int32(7)), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func priorities(level: Logger.Level, priority: Int32) {
        #expect(LogSink.priority(level) == priority)
    }

    @Test("the log level follows the sink (reload), unless a logger overrides it")
    func levelFollowsSink() {
        let sink = LogSink(destination: .terminal, level: .info)
        var logger = sink.makeLogger()
        #expect(logger.logLevel == .info)
        sink.setLevel(.debug)
        #expect(logger.logLevel == .debug)
        logger.logLevel = .error
        sink.setLevel(.trace)
        #expect(logger.logLevel == .error)
    }

    @Test func countersCount() {
        let counters = MessageCounters()
        counters.record(.rejected)
        counters.record(.ham)
        counters.record(.failed)
        counters.recordSkipped()
        #expect(counters.snapshot == .init(ham: 1, rejected: 1, skipped: 1, failed: 1))
        #expect(counters.snapshot.scanned == 2 && counters.snapshot.spam == 1 && counters.snapshot.unclassified == 1)
    }
}
