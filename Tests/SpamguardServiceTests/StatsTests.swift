import ControlProtocol
import Foundation
import Logging
import Testing
@testable import SpamguardService

@Suite("Stats: outcome counts, shares, latency windows, persistence")
struct StatsTests {
    @Test("verdict actions map to outcomes; scanned, spam, unclassified and total are derived")
    func outcomes() {
        #expect(MessageCounters.Outcome(.pass) == .ham)
        #expect(MessageCounters.Outcome(.flag) == .tagged)
        #expect(MessageCounters.Outcome(.quarantine) == .quarantined)
        #expect(MessageCounters.Outcome(.reject) == .rejected)
        let counts = MessageCounters.Snapshot(ham: 5, tagged: 3, quarantined: 2, rejected: 1, skipped: 7, failed: 4, timedOut: 6)
        #expect(counts.total == 28)
        #expect(counts.scanned == 11)
        #expect(counts.spam == 6)
        #expect(counts.unclassified == 10)
        #expect(counts.byName == ["ham": 5, "tagged": 3, "quarantined": 2, "rejected": 1, "skipped": 7, "errors": 4, "timeouts": 6])
        #expect(MessageCounters.Snapshot(byName: counts.byName) == counts)
        #expect(MessageCounters.Snapshot(byName: ["ham": 2, "learned": 9, "rejected": -4]) == MessageCounters.Snapshot(ham: 2))
    }

    @Test("restored counts are counted on from, and exported to Prometheus with the same totals")
    func restoreAndExport() {
        let since = Date(timeIntervalSince1970: 1_700_000_000)
        let export = PrometheusExport(process: ProcessFacts())
        let counters = MessageCounters(since: since, restoring: .init(ham: 40, rejected: 2), metrics: export.factory)
        counters.record(.ham)
        counters.record(.timedOut)
        counters.recordSkipped()
        #expect(counters.snapshot == .init(ham: 41, rejected: 2, skipped: 1, timedOut: 1))
        #expect(counters.since == since)
        let text = String(decoding: export.exposition(), as: UTF8.self)
        for line in [#"spamguard_messages_total{outcome="ham"} 41"#, #"spamguard_messages_total{outcome="rejected"} 2"#,
                     #"spamguard_messages_total{outcome="timeouts"} 1"#, #"spamguard_messages_total{outcome="errors"} 0"#] {
            #expect(text.contains(line + "\n"), "\(line) in\n\(text)")
        }
    }

    @Test("shares are count / total and add up to 1; no messages, no shares")
    func shares() {
        let figures = MessageFigures(.init(ham: 1, tagged: 1, skipped: 2), since: Date())
        #expect(figures.total == 4)
        #expect(figures.scanned == 2)
        #expect(figures.outcomes["skipped"] == OutcomeFigure(count: 2, share: 0.5))
        #expect(abs(figures.outcomes.values.map(\.share).reduce(0, +) - 1) < 1e-12)
        #expect(Set(figures.outcomes.keys) == Set(MessageFigures.outcomeOrder))
        #expect(MessageFigures(.init(), since: Date()).outcomes.values.allSatisfy { $0 == OutcomeFigure(count: 0, share: 0) })
    }

    @Test("percentiles and max of 1…1000 ms, to HdrHistogram's three digits")
    func percentiles() {
        var histogram = LatencyWindow.makeHistogram()
        for milliseconds in 1...1000 { histogram.record(UInt64(milliseconds) * 1000) }
        let summary = LatencySummary(histogram)
        #expect(summary.count == 1000)
        for (value, expected) in [(summary.p50Milliseconds, 500.0), (summary.p95Milliseconds, 950.0), (summary.p99Milliseconds, 990.0)] {
            #expect(abs(value - expected) / expected < 0.001, "\(value) vs \(expected)")
        }
        #expect(summary.maxMilliseconds == 1000)
        #expect(LatencySummary(LatencyWindow.makeHistogram()) == .empty)
    }

    @Test("durations become microseconds; a minute or more counts as a minute")
    func microseconds() {
        #expect(LatencyWindow.microseconds(.milliseconds(12)) == 12_000)
        #expect(LatencyWindow.microseconds(.nanoseconds(1500)) == 1)
        #expect(LatencyWindow.microseconds(.seconds(59)) == 59_000_000)
        #expect(LatencyWindow.microseconds(.seconds(90)) == LatencyWindow.highestMicroseconds)
        #expect(LatencyWindow.microseconds(.seconds(-1)) == 0)
    }

    @Test("the window holds the last ten 30-second slots and forgets older ones")
    func slidingWindow() {
        var window = LatencyWindow()
        window.record(1_000, at: .seconds(0))        // slot 0
        window.record(2_000, at: .seconds(29))       // slot 0
        window.record(3_000, at: .seconds(45))       // slot 1
        window.record(4_000, at: .seconds(299))      // slot 9
        #expect(window.merged(at: .seconds(299)).totalCount == 4)
        // At 300 s slot 0 is out of the window (slots 1…10 are in), though nothing overwrote it yet.
        #expect(window.merged(at: .seconds(300)).totalCount == 2)
        #expect(window.merged(at: .seconds(329)).totalCount == 2)
        #expect(window.merged(at: .seconds(330)).totalCount == 1)
        // Recording into slot 10 reuses slot 0's place and clears it first.
        window.record(5_000, at: .seconds(301))
        let merged = window.merged(at: .seconds(301))
        #expect(merged.totalCount == 3)
        #expect(merged.maxRecorded == 5_000)
        #expect(window.merged(at: .seconds(1000)).totalCount == 0)
    }

    @Test("LatencyStats: since start and the last five minutes see the same fresh values")
    func latencyStats() {
        let stats = LatencyStats()
        for milliseconds in [3, 5, 8] { stats.record(.milliseconds(milliseconds)) }
        let figures = stats.figures()
        #expect(figures.sinceStart.count == 3)
        #expect(figures.sinceStart == figures.lastFiveMinutes)
        // Percentiles are the highest value equivalent to the recorded one (three significant digits).
        #expect(abs(figures.sinceStart.p50Milliseconds - 5) <= 0.005)
        #expect(figures.sinceStart.maxMilliseconds == 8)
    }
}

@Suite("CountersFile: counts on disk, atomically")
struct CountersFileTests {
    private func directory() throws -> String {
        var template = Array("/tmp/sg-counters.XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw CocoaError(.fileWriteUnknown) }
        return String(cString: made)
    }

    @Test("saved contents load back; no file loads as nil; no temporary file is left")
    func roundTrip() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = CountersFile(directory: directory)
        #expect(try file.load() == nil)
        let contents = CountersFile.Contents(
            since: Date(timeIntervalSince1970: 1_700_000_000), saved: Date(timeIntervalSince1970: 1_700_000_100),
            counts: .init(ham: 7, tagged: 1, timedOut: 2)
        )
        try file.save(contents)
        #expect(try file.load() == contents)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["counters.json"])
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text.contains(#""since" : "2023-11-14T22:13:20Z""#), "\(text)")
    }

    @Test("an unreadable file is an error naming it; restore sets it aside and counts from zero")
    func unreadable() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = CountersFile(directory: directory)
        try "{\"format\": \"spamguard-counters\", \"counts\": ".write(toFile: file.path, atomically: true, encoding: .utf8)
        #expect { try file.load() } throws: { "\($0)".hasPrefix("\(file.path): not a counters file") }
        let counters = CountersPersistence.restore(from: file, metrics: PrometheusExport(process: ProcessFacts()).factory, logger: Logger(label: "test"))
        #expect(counters.snapshot == .init())
        #expect(FileManager.default.fileExists(atPath: file.path + ".unreadable"))
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }

    @Test("a save into a directory that does not exist fails with errno's text")
    func saveFails() {
        let file = CountersFile(directory: "/nonexistent/spamguard")
        #expect(throws: SystemError(errno: ENOENT)) {
            try file.save(.init(since: Date(), saved: Date(), counts: .init()))
        }
    }
}

@Suite("MessageFilter outcomes as the stats count them")
struct FilterOutcomeTests {
    @Test("a deadline miss counts as a timeout, a model failure as an error; both wait times are recorded")
    func timeoutsAndErrors() async throws {
        let slow = FakeModel(version: "slow", delay: .milliseconds(300), behaviour: .keyword("viagra"))
        try await withFilter(model: slow, configure: { $0.model.deadlineMilliseconds = 30 }) { filter, driver in
            _ = await driver.send(headers: [], body: "viagra")
            #expect(filter.counters.snapshot == .init(timedOut: 1))
            #expect(filter.latency.figures().sinceStart.count == 1)
            #expect(filter.latency.figures().sinceStart.maxMilliseconds >= 30)
        }
        try await withFilter(model: FakeModel(version: "broken", behaviour: .throwing)) { filter, driver in
            _ = await driver.send(headers: [], body: "hello")
            #expect(filter.counters.snapshot == .init(failed: 1))
        }
    }

    @Test("scanned messages count by action: ham, tagged, rejected")
    func scannedByAction() async throws {
        let model = FakeModel(version: "kw", behaviour: .keyword("viagra"))
        try await withFilter(model: model, configure: { $0.policy.rejectAt = 0.96 }) { filter, driver in
            _ = await driver.send(headers: [], body: "lunch")
            _ = await driver.send(headers: [], body: "viagra")
            _ = await driver.send(headers: [], body: "hello", user: "alice")
            #expect(filter.counters.snapshot == .init(ham: 1, rejected: 1, skipped: 1))
            #expect(filter.latency.figures().sinceStart.count == 2)
        }
        try await withFilter(model: model, configure: { $0.policy.rejectAt = 1.5; $0.policy.quarantineAt = 0.9 }) { filter, driver in
            _ = await driver.send(headers: [], body: "viagra")
            #expect(filter.counters.snapshot == .init(quarantined: 1))
        }
        try await withFilter(model: model) { filter, driver in
            _ = await driver.send(headers: [], body: "viagra")
            #expect(filter.counters.snapshot == .init(tagged: 1))
        }
    }
}
