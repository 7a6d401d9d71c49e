import ControlProtocol
import DaemonTestSupport
import Foundation
import Testing
@testable import Learning
import SpamguardService
import Training

@Suite("Ledger: durable, replayed, crash-consistent")
struct LedgerTests {
    func run(_ id: Int, _ outcome: TrainingRunRecord.Outcome, spam: [String] = [], ham: [String] = [], candidate: String? = nil) -> TrainingRunRecord {
        TrainingRunRecord(id: id, started: Date(timeIntervalSince1970: 1_700_000_000), seconds: 12.5, parent: "v1", candidate: candidate,
                          outcome: outcome, reason: "because", examples: 10, feedbackExamples: 4, replayedExamples: 6, heldOutFeedback: 1,
                          before: nil, after: nil, consumedSpam: spam, consumedHam: ham)
    }

    @Test func everyRecordSurvivesAReopen() async throws {
        try await onThread { try self.everyRecordSurvivesAReopenBody() }
    }

    func everyRecordSurvivesAReopenBody() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let path = dir + "/learning/ledger.jsonl"
        let ledger = try Ledger(path: path, logger: quiet)
        try ledger.recordMessage(claim: "c1", hash: "h1", label: .spam, origin: "spam/1")
        try ledger.recordRejection(claim: "c2", label: .ham, origin: "ham/2", reason: "empty file")
        let metrics = Metrics(probabilities: [0.9, 0.2], labels: [1, 0], loss: 0.1)
        var record = run(1, .refused, spam: ["h1"], candidate: "v2")
        record.before = QualityGate.Evaluation(heldOut: metrics, feedback: metrics)
        record.heldOutChanges = HeldOutChanges(messages: 2, ham: 1, newErrors: 1, fixedErrors: 0, newFalsePositives: 1, fixedFalsePositives: 0)
        try ledger.recordRun(record)
        try ledger.recordServing(ServingRecord(version: "v1", previous: nil, reason: "serving at start", time: Date(timeIntervalSince1970: 1_700_000_000)))
        let replayed = try Ledger(path: path, logger: quiet).state
        #expect(replayed == ledger.state)
        #expect(replayed.lastRun?.before?.heldOut.tp == 1)
        #expect(replayed.lastRun?.heldOutChanges?.newFalsePositives == 1)
        #expect(replayed.refusals == ["v2": "because"])
        #expect(replayed.lastServing?.version == "v1")
        #expect(replayed.claims == ["c1": .learned(hash: "h1"), "c2": .rejected])
    }

    @Test func aTornLastLineIsCutOffAndAppendsContinueCleanly() async throws {
        try await onThread { try self.aTornLastLineIsCutOffAndAppendsContinueCleanlyBody() }
    }

    func aTornLastLineIsCutOffAndAppendsContinueCleanlyBody() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let path = dir + "/ledger.jsonl"
        let ledger = try Ledger(path: path, logger: quiet)
        try ledger.recordMessage(claim: "c1", hash: "h1", label: .spam, origin: "spam/1")
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        // A crash in the middle of the second append.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"kind\":\"message\",\"claim\":\"c2\",\"ha".utf8))
        try handle.close()

        let reopened = try Ledger(path: path, logger: quiet)
        #expect(reopened.state.learned == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == whole, "the torn line is gone")
        try reopened.recordMessage(claim: "c3", hash: "h3", label: .ham, origin: "ham/3")
        #expect(try Ledger(path: path, logger: quiet).state.learned == 2)
    }

    @Test func aDamagedLineInTheMiddleIsSkipped() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let path = dir + "/ledger.jsonl"
        let ledger = try Ledger(path: path, logger: quiet)
        try ledger.recordMessage(claim: "c1", hash: "h1", label: .spam, origin: "spam/1")
        try ledger.recordMessage(claim: "c2", hash: "h2", label: .spam, origin: "spam/2")
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"claim\":\"c1\"", with: "\"claim\":")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let state = try Ledger(path: path, logger: quiet).state
        #expect(state.learned == 1 && state.messages["h2"] != nil)
    }

    @Test func finishedRunsUseLabelsUpAndARelabelMakesThemNewAgain() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let ledger = try Ledger(path: dir + "/ledger.jsonl", logger: quiet)
        for i in 1...3 { try ledger.recordMessage(claim: "c\(i)", hash: "h\(i)", label: .spam, origin: "spam/\(i)") }
        #expect(ledger.state.untrained.count == 3)
        try ledger.recordRun(run(1, .failed, spam: ["h1", "h2", "h3"]))
        #expect(ledger.state.untrained.count == 3, "a failed run uses nothing up")
        try ledger.recordRun(run(2, .refused, spam: ["h1", "h2"]))
        #expect(Set(ledger.state.untrained.keys) == ["h3"], "refused runs use their labels up too")
        #expect(ledger.state.nextRunID == 3)
        try ledger.recordMessage(claim: "c4", hash: "h1", label: .ham, origin: "ham/4")
        #expect(Set(ledger.state.untrained.keys) == ["h1", "h3"], "a relabeled message waits for the next run")
        try ledger.recordRun(run(3, .promoted, spam: ["h3"], ham: ["h1"]))
        #expect(ledger.state.untrained.isEmpty)
        try ledger.recordMessage(claim: "c5", hash: "h2", label: .spam, origin: "spam/5")
        #expect(ledger.state.untrained.isEmpty, "a duplicate of a learned label is nothing new")
    }

    @Test func twoWritersInterleaveWholeLines() async throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let path = dir + "/ledger.jsonl"
        let daemon = try Ledger(path: path, logger: quiet)
        let tool = try Ledger(path: path, logger: quiet)
        // Two threads of their own (fsyncs must not hold the cooperative pool).
        async let first: Void = onThread { for i in 0..<50 { _ = try? daemon.recordMessage(claim: "d\(i)", hash: "d\(i)", label: .spam, origin: "x") } }
        async let second: Void = onThread { for i in 0..<50 { try? tool.recordServing(ServingRecord(version: "v\(i)", previous: nil, reason: "rollback", time: Date())) } }
        _ = try await (first, second)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 100)
        let state = try Ledger(path: path, logger: quiet).state
        #expect(state.learned == 50)
        #expect(state.lastServing != nil)
    }
}
