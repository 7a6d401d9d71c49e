import ControlProtocol
import Foundation
import Logging
import Testing
@testable import SpamguardService

/// A learning loop that records what it was asked.
actor FakeLearning: LearningOperations {
    struct Refusal: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }

    var calls: [String] = []
    var learned: [(FeedbackLabel, [FeedbackSubmission])] = []
    var paused = false
    var trainNowRequested = false

    func learn(_ label: FeedbackLabel, messages: [FeedbackSubmission]) throws -> LearnReceipt {
        calls.append("learn")
        if messages.contains(where: { $0.name == "full" }) { throw Refusal() }
        learned.append((label, messages))
        return LearnReceipt(queued: messages.map { "\(label)/learn-\($0.name)" }, refused: [:])
    }

    func models() -> ModelList {
        calls.append("models")
        return ModelList(
            versions: [ModelVersion(version: "v2", created: Date(timeIntervalSince1970: 100), parent: "v1", serving: true,
                                    heldOut: ModelFigures(accuracy: 0.9, falsePositiveRate: 0.01, count: 40), feedback: nil)],
            refused: [], configured: nil)
    }

    func rollback(to version: String?) throws -> RollbackReport {
        calls.append("rollback \(version ?? "-")")
        if version == "nope" { throw ControlFailure(.rollbackRefused, "no stored version nope") }
        return RollbackReport(from: "v2", to: version ?? "v1", applied: true)
    }

    func pauseTraining() {
        calls.append("pause")
        paused = true
    }

    func resumeTraining() {
        calls.append("resume")
        paused = false
    }

    func trainNow() {
        calls.append("train-now")
        trainNowRequested = true
    }

    func learningStatus() -> LearningStatus {
        LearningStatus(enabled: true, paused: paused, trainNowRequested: trainNowRequested, activity: "idle", feedback: .init(),
                       lastRun: nil, servingVersion: "v2", servingCreated: nil)
    }
}

@Suite("ControlResponder: the learning loop's operations")
struct ControlLearningTests {
    private func respond<R: Codable & Sendable>(
        _ request: ControlRequest, uid: UInt32 = 0, learning: FakeLearning? = FakeLearning(), as type: R.Type = NoResult.self
    ) async throws -> ControlResponse<R> {
        let responder = ControlResponder(operations: FakeOperations(learning: learning), daemonUID: 110, logger: Logger(label: "test"))
        let line = try ControlCoding.encode(request)
        let bytes = await responder.respond(to: line, from: PeerCredentials(pid: 1, uid: uid, gid: uid))
        return try ControlCoding.decode(ControlResponse<R>.self, from: bytes.dropLast())
    }

    @Test("models, rollback, pause, resume and train-now reach the loop; the last three answer with the state they leave")
    func operations() async throws {
        let learning = FakeLearning()
        let models = try await respond(ControlRequest(.models), uid: 65534, learning: learning, as: ModelList.self)
        #expect(models.result?.versions.first?.heldOut?.falsePositiveRate == 0.01, "anyone who can open the socket may list")
        let rollback = try await respond(ControlRequest(.rollback, args: .rollback(to: "v1")), learning: learning, as: RollbackReport.self)
        #expect(rollback.result == RollbackReport(from: "v2", to: "v1", applied: true))
        #expect(try await respond(ControlRequest(.rollback), uid: 110, learning: learning, as: RollbackReport.self).result?.to == "v1")
        #expect(try await respond(ControlRequest(.pauseTraining), learning: learning, as: LearningStatus.self).result?.paused == true)
        #expect(try await respond(ControlRequest(.trainNow), learning: learning, as: LearningStatus.self).result?.trainNowRequested == true)
        #expect(try await respond(ControlRequest(.resumeTraining), learning: learning, as: LearningStatus.self).result?.paused == false)
        #expect(await learning.calls == ["models", "rollback v1", "rollback -", "pause", "train-now", "resume"])
    }

    @Test("learn hands the decoded messages and their label to the loop")
    func learn() async throws {
        let learning = FakeLearning()
        let message = FeedbackSubmission(name: "a.eml", bytes: Array("Subject: hi\r\n\r\nbody\r\n".utf8) + [0xFF, 0x00])
        let receipt = try await respond(ControlRequest(.learn, args: .learn(.spam, [message])), learning: learning, as: LearnReceipt.self)
        #expect(receipt.result == LearnReceipt(queued: ["spam/learn-a.eml"], refused: [:]))
        let learned = await learning.learned
        #expect(learned.count == 1 && learned.first?.0 == .spam && learned.first?.1 == [message], "bytes arrive as they were, binary too")
    }

    @Test("every learning operation but models is refused to a peer that is neither root nor the daemon's user, before it reaches the loop")
    func privilege() async throws {
        let learning = FakeLearning()
        let message = FeedbackSubmission(name: "a.eml", bytes: Array("Subject: hi\r\n\r\n".utf8))
        for request in [ControlRequest(.rollback, id: .number(4)), ControlRequest(.pauseTraining, id: .number(4)), ControlRequest(.resumeTraining, id: .number(4)),
                        ControlRequest(.trainNow, id: .number(4)), ControlRequest(.learn, id: .number(4), args: .learn(.ham, [message]))] {
            let refused = try await respond(request, uid: 1000, learning: learning)
            #expect(refused.error?.code == .forbidden, "\(request.op)")
            #expect(refused.id == .number(4))
        }
        #expect(await learning.calls.isEmpty)
    }

    @Test("without the learning loop: learning_off; the other operations answer as before")
    func learningOff() async throws {
        for operation in [ControlOperation.models, .rollback, .pauseTraining, .resumeTraining, .trainNow] {
            let response = try await respond(ControlRequest(operation), learning: nil)
            #expect(response.error?.code == .learningOff, "\(operation)")
            #expect(response.error?.message.contains("[feedback] enabled = false") == true)
        }
        #expect(try await respond(ControlRequest(.ping), learning: nil, as: PingResult.self).ok)
    }

    @Test("learn without a label or messages, or with data that is not base64, is a bad request saying what is wrong")
    func learnArguments() async throws {
        let learning = FakeLearning()
        for args in [nil, ControlArguments(label: .spam), ControlArguments(messages: [FeedbackSubmission(name: "x", bytes: [1])]),
                     ControlArguments(label: .spam, messages: [])] {
            let response = try await respond(ControlRequest(.learn, args: args), learning: learning)
            #expect(response.error?.code == .badRequest)
            #expect(response.error?.message.hasPrefix(#"learn takes "args""#) == true)
        }
        let responder = ControlResponder(operations: FakeOperations(learning: learning), daemonUID: 110, logger: Logger(label: "test"))
        let line = #"{"v":1,"id":2,"op":"learn","args":{"label":"spam","messages":[{"name":"x","data":"***"}]}}"#
        let bytes = await responder.respond(to: Array(line.utf8), from: PeerCredentials(pid: 1, uid: 0, gid: 0))
        let response = try ControlCoding.decode(ControlResponse<NoResult>.self, from: bytes.dropLast())
        #expect(response.error?.code == .badRequest)
        #expect(response.id == .number(2))
        #expect(response.error?.message == #"the "args" of learn do not decode: args.messages[0].data: not base64"#)
        #expect(await learning.calls.isEmpty)
    }

    @Test("a refusal the loop throws keeps its code; any other error is failed, with its description")
    func failures() async throws {
        let rollback = try await respond(ControlRequest(.rollback, args: .rollback(to: "nope")))
        #expect(rollback.error == ControlFailure(.rollbackRefused, "no stored version nope"))
        let learn = try await respond(ControlRequest(.learn, args: .learn(.spam, [FeedbackSubmission(name: "full", bytes: [1])])))
        #expect(learn.error == ControlFailure(.failed, "learn failed: disk full"))
    }
}
