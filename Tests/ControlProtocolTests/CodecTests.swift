@testable import ControlProtocol
import Foundation
import Testing

@Suite("Control protocol: JSON lines on the wire")
struct CodecTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("a request is one compact line with v, id and op")
    func requestLine() throws {
        let line = try ControlCoding.line(ControlRequest(.stats, id: .number(7)))
        #expect(text(line) == #"{"id":7,"op":"stats","v":1}"# + "\n")
        let decoded = try ControlCoding.decode(ControlRequest.self, from: line.dropLast())
        #expect(decoded == ControlRequest(v: 1, id: .number(7), op: "stats"))
    }

    @Test("ids are echoed as they came: numbers, strings, or none")
    func ids() throws {
        for (json, id) in [(#"{"v":1,"id":"abc","op":"ping"}"#, RequestID.string("abc")), (#"{"v":1,"id":-3,"op":"ping"}"#, .number(-3))] {
            let request = try ControlCoding.decode(ControlRequest.self, from: Array(json.utf8))
            #expect(request.id == id)
            let response = ControlResponse.success(PingResult(pid: 1, uptimeSeconds: 2), id: request.id)
            let echoed = try ControlCoding.decode(ControlResponse<PingResult>.self, from: ControlCoding.encode(response))
            #expect(echoed.id == id)
        }
        let anonymous = try ControlCoding.decode(ControlRequest.self, from: Array(#"{"v":1,"op":"ping"}"#.utf8))
        #expect(anonymous.id == nil)
    }

    @Test("unknown request fields are ignored, so newer clients can add some")
    func unknownFieldsIgnored() throws {
        let request = try ControlCoding.decode(ControlRequest.self, from: Array(#"{"v":1,"op":"stats","args":{"window":"1h"},"x":[1]}"#.utf8))
        #expect(request.op == "stats")
    }

    @Test("a request without v or op, or not an object, does not decode")
    func incompleteRequests() {
        for json in [#"{"op":"stats"}"#, #"{"v":1}"#, #"{"v":"1","op":"stats"}"#, "[1,2]", "stats", "", #"{"v":1,"op":"stats""#] {
            #expect(throws: (any Error).self, "\(json)") { try ControlCoding.decode(ControlRequest.self, from: Array(json.utf8)) }
        }
    }

    @Test("an error response has ok false and a code and message, no result")
    func errorResponse() throws {
        let failure = ControlFailure(.unknownOperation, "unknown operation \"frobnicate\"")
        let bytes = try ControlCoding.encode(ControlResponse<NoResult>.failure(failure, id: .number(3)))
        #expect(text(bytes) == #"{"error":{"code":"unknown_op","message":"unknown operation \"frobnicate\""},"id":3,"ok":false,"v":1}"#)
        // A client expecting stats still decodes it, and sees the error.
        let decoded = try ControlCoding.decode(ControlResponse<StatsReport>.self, from: bytes)
        #expect(decoded.ok == false)
        #expect(decoded.result == nil)
        #expect(decoded.error == failure)
    }

    @Test("error codes newer than the client still decode")
    func newerErrorCodes() throws {
        let json = #"{"v":1,"ok":false,"error":{"code":"rollback_in_progress","message":"later"}}"#
        let decoded = try ControlCoding.decode(ControlResponse<NoResult>.self, from: Array(json.utf8))
        #expect(decoded.error?.code == ControlErrorCode(rawValue: "rollback_in_progress"))
    }

    @Test("stats round-trip with snake_case keys and ISO 8601 dates")
    func statsRoundTrip() throws {
        let since = Date(timeIntervalSince1970: 1_764_000_000)
        let report = StatsReport(
            daemon: DaemonFigures(pid: 42, started: since, uptimeSeconds: 12.5, residentMemoryBytes: 1 << 20),
            classifier: ClassifierFigures(
                version: "abc", created: since, ageSeconds: 3600, base: "/m", baseSHA256: "00ff",
                validation: ValidationFigures(messages: 10, accuracy: 0.9, precision: 1, recall: 0.8, f1: 0.888, falsePositiveRate: 0, rocAUC: nil)
            ),
            messages: MessageFigures(since: since, total: 3, scanned: 2, outcomes: ["ham": OutcomeFigure(count: 2, share: 2.0 / 3)]),
            latency: LatencyFigures(sinceStart: .empty, lastFiveMinutes: .empty),
            batches: BatchFigures(forwardPasses: 2, sizes: ["1": 2])
        )
        let bytes = try ControlCoding.encode(ControlResponse.success(report, id: nil))
        let json = text(bytes)
        for key in ["\"uptime_seconds\"", "\"resident_memory_bytes\"", "\"false_positive_rate\"", "\"last_5_minutes\"", "\"p99_ms\"",
                    "\"forward_passes\"", "\"base_sha256\":\"00ff\"", "\"since\":\"2025-11-24T16:00:00Z\""] {
            #expect(json.contains(key), "\(key) in \(json)")
        }
        #expect(!json.contains("roc_auc"), "a missing AUC is left out, not null")
        #expect(try ControlCoding.decode(ControlResponse<StatsReport>.self, from: bytes).result == report)
    }
}

@Suite("Control protocol: the learning loop's requests and results")
struct LearningCodecTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("operation names on the wire, and which of them change state")
    func operations() {
        #expect(ControlOperation.allCases.map(\.rawValue) == [
            "ping", "status", "stats", "reload", "models", "rollback", "pause-training", "resume-training", "train-now", "learn",
        ])
        #expect(Set(ControlOperation.allCases.filter(\.changesState)) == [.reload, .rollback, .pauseTraining, .resumeTraining, .trainNow, .learn])
    }

    @Test("learn carries the label and the messages, their bytes as base64, binary included")
    func learnRequest() throws {
        let message = FeedbackSubmission(name: "a.eml", bytes: Array("Subject: x\r\n\r\n".utf8) + [0, 0xFF])
        let line = try ControlCoding.line(ControlRequest(.learn, id: .number(1), args: .learn(.spam, [message])))
        #expect(text(line) == #"{"args":{"label":"spam","messages":[{"data":"U3ViamVjdDogeA0KDQoA/w==","name":"a.eml"}]},"id":1,"op":"learn","v":1}"# + "\n")
        let decoded = try ControlCoding.decode(ControlRequest.self, from: line.dropLast())
        #expect(decoded.args?.label == .spam)
        #expect(decoded.args?.messages == [message])
        #expect(FeedbackSubmission.encodedSize(of: message.bytes.count) == "U3ViamVjdDogeA0KDQoA/w==".count)
    }

    @Test("rollback names its version, or leaves it out; requests without args encode none")
    func rollbackRequest() throws {
        #expect(text(try ControlCoding.encode(ControlRequest(.rollback, args: .rollback(to: "20261125-1")))) == #"{"args":{"version":"20261125-1"},"op":"rollback","v":1}"#)
        #expect(text(try ControlCoding.encode(ControlRequest(.trainNow))) == #"{"op":"train-now","v":1}"#)
        let decoded = try ControlCoding.decode(ControlRequest.self, from: Array(#"{"v":1,"op":"rollback","args":{"version":"a","later":true}}"#.utf8))
        #expect(decoded.args == ControlArguments(version: "a"))
    }

    @Test("a message that is not base64, or an unknown label, does not decode")
    func badArguments() {
        for json in [#"{"v":1,"op":"learn","args":{"label":"spam","messages":[{"name":"x","data":"no!"}]}}"#,
                     #"{"v":1,"op":"learn","args":{"label":"eggs","messages":[]}}"#,
                     #"{"v":1,"op":"learn","args":{"label":"ham","messages":[{"data":"AA=="}]}}"#] {
            #expect(throws: (any Error).self, "\(json)") { try ControlCoding.decode(ControlRequest.self, from: Array(json.utf8)) }
        }
    }

    @Test("models and the learning status round-trip with snake_case keys")
    func resultsRoundTrip() throws {
        let created = Date(timeIntervalSince1970: 1_764_000_000)
        let list = ModelList(
            versions: [ModelVersion(version: "v2", created: created, parent: "v1", serving: true,
                                    heldOut: ModelFigures(accuracy: 0.95, falsePositiveRate: 0.01, count: 200),
                                    feedback: ModelFigures(accuracy: 1, falsePositiveRate: 0, count: 30))],
            refused: [RefusedCandidate(version: "v3", directory: "/s/candidates/v3", reason: "worse")], configured: nil)
        let listJSON = text(try ControlCoding.encode(list))
        for key in ["\"held_out\":{", "\"false_positive_rate\":0.01", "\"serving\":true", "\"created\":\"2025-11-24T16:00:00Z\""] {
            #expect(listJSON.contains(key), "\(key) in \(listJSON)")
        }
        #expect(try ControlCoding.decode(ModelList.self, from: Array(listJSON.utf8)) == list)

        var feedback = LearningStatus.Feedback()
        feedback.waiting = 2
        feedback.untrained = 5
        let status = LearningStatus(
            enabled: true, paused: true, trainNowRequested: true, activity: "waiting for idle", feedback: feedback,
            lastRun: .init(id: 3, started: created, seconds: 12.5, examples: 40, feedbackExamples: 10, replayedExamples: 30,
                           outcome: "refused", reason: "accuracy fell", parent: "v1", candidate: "v3"),
            servingVersion: "v2", servingCreated: created, servingAgeSeconds: 86400)
        let report = StatsReport(
            daemon: DaemonFigures(pid: 1, started: created, uptimeSeconds: 1, residentMemoryBytes: 1), classifier: nil,
            messages: MessageFigures(since: created, total: 0, scanned: 0, outcomes: [:]),
            latency: LatencyFigures(sinceStart: .empty, lastFiveMinutes: .empty), batches: BatchFigures(forwardPasses: 0, sizes: [:]),
            learning: status)
        let json = text(try ControlCoding.encode(ControlResponse.success(report, id: nil)))
        for key in ["\"learning\":{", "\"train_now_requested\":true", "\"last_run\":{", "\"feedback_examples\":10", "\"replayed_examples\":30",
                    "\"serving_version\":\"v2\"", "\"serving_age_seconds\":86400", "\"untrained\":5"] {
            #expect(json.contains(key), "\(key) in \(json)")
        }
        #expect(try ControlCoding.decode(ControlResponse<StatsReport>.self, from: Array(json.utf8)).result == report)

        // A daemon without the learning loop, or from before it: no learning section.
        var without = report
        without.learning = nil
        let older = text(try ControlCoding.encode(without))
        #expect(!older.contains("learning"))
        #expect(try ControlCoding.decode(StatsReport.self, from: Array(older.utf8)).learning == nil)
    }
}

@Suite("LineBuffer: lines out of chunks, with a cap")
struct LineBufferTests {
    private func lines(_ buffer: inout LineBuffer) throws -> [String] {
        var out: [String] = []
        while let line = try buffer.nextLine() { out.append(String(decoding: line, as: UTF8.self)) }
        return out
    }

    @Test("lines split anywhere come out whole; CRLF loses its CR")
    func chunking() throws {
        let stream = Array("{\"a\":1}\n{\"b\":2}\r\n\n{\"c\"".utf8)
        for cut in 0...stream.count {
            var buffer = LineBuffer(limit: 64)
            buffer.append(stream[..<cut])
            var got = try lines(&buffer)
            buffer.append(stream[cut...])
            got += try lines(&buffer)
            #expect(got == ["{\"a\":1}", "{\"b\":2}", ""], "cut at \(cut)")
            #expect(buffer.pendingCount == 4)
        }
    }

    @Test("a line at the limit passes; one byte more is refused, with or without its newline yet")
    func limit() throws {
        var exact = LineBuffer(limit: 8)
        exact.append(Array("1234567\n".utf8))
        #expect(try exact.nextLine().map { Array($0) } == Array("1234567".utf8))

        var long = LineBuffer(limit: 8)
        long.append(Array("12345678\n".utf8))
        #expect(throws: LineBuffer.LineTooLong(limit: 8)) { try long.nextLine() }

        var trickle = LineBuffer(limit: 8)
        for byte in "1234567".utf8 {
            trickle.append([byte])
            #expect(try trickle.nextLine() == nil)
        }
        trickle.append(Array("8".utf8))
        #expect(throws: LineBuffer.LineTooLong(limit: 8)) { try trickle.nextLine() }
    }

    @Test("ten thousand lines in a row come out in order while the consumed prefix is dropped")
    func compaction() throws {
        var buffer = LineBuffer(limit: 32)
        for index in 0..<10_000 {
            buffer.append(Array("line \(index)\n".utf8))
            #expect(try buffer.nextLine().map { String(decoding: $0, as: UTF8.self) } == "line \(index)")
        }
        #expect(buffer.pendingCount == 0)
    }
}
