import Logging
import Testing
@testable import SpamguardService

/// Drives `MessageFilter` the way libmilter's callbacks do, without libmilter.
struct MessageDriver {
    let filter: MessageFilter

    /// One message on its own connection; returns the end-of-message outcome (computed on a plain thread,
    /// as libmilter would: `endOfMessage` blocks).
    func send(
        headers: [(String, String)], body: String, client: String = "192.0.2.10", user: String? = nil
    ) async -> (decisions: [FilterDecision], outcome: MessageOutcome?) {
        let (session, connect) = filter.connect(client: IPAddress(client), clientName: "client.example")
        var decisions = [connect]
        guard connect == .continue else { return (decisions, nil) }
        let mail = filter.mailFrom(session, authenticatedAs: user, queueID: "Q1")
        decisions.append(mail)
        guard mail == .continue else { return (decisions, nil) }
        for (name, value) in headers { decisions.append(filter.header(session, name: name, value: Array(value.utf8))) }
        decisions.append(filter.endOfHeaders(session))
        var bytes = Array(body.utf8)
        decisions.append(bytes.withUnsafeMutableBytes { filter.body(session, UnsafeRawBufferPointer($0)) })
        let outcome = await onDedicatedThread { [filter] in filter.endOfMessage(session, queueID: "Q1") }
        return (decisions, outcome)
    }
}

func withFilter<T: Sendable>(
    model: (any ClassifierModel)?, configure: (inout Configuration) -> Void = { _ in },
    _ body: (MessageFilter, MessageDriver) async throws -> T
) async throws -> T {
    var configuration = Configuration()
    // No deadline to speak of unless a test sets one: the suite may share the CPU with heavy tests.
    configuration.model.deadlineMilliseconds = 300_000
    configure(&configuration)
    return try await withModelActor(model, maxWait: .zero) { actor in
        let filter = MessageFilter(settings: FilterSettings(configuration), models: actor, logger: Logger(label: "test"))
        return try await body(filter, MessageDriver(filter: filter))
    }
}

@Suite("MessageFilter: the milter's logic, driven like libmilter drives it")
struct MessageFilterTests {
    let model = FakeModel(version: "kw-1", behaviour: .keyword("viagra"))

    @Test("ham gets X-Spam-Status: No; spam gets X-Spam-Flag: YES")
    func hamAndSpam() async throws {
        try await withFilter(model: model) { filter, driver in
            let ham = await driver.send(headers: [("Subject", "lunch?")], body: "see you at noon\r\n")
            #expect(ham.decisions.allSatisfy { $0 == .continue })
            #expect(ham.outcome?.edits.contains(.add(name: "X-Spam-Status", value: "No, score=0.030 required=0.500 model=kw-1")) == true)
            #expect(ham.outcome?.edits.contains { if case .add("X-Spam-Flag", _) = $0 { true } else { false } } == false)

            let spam = await driver.send(headers: [("Subject", "cheap viagra")], body: "buy now\r\n")
            #expect(spam.outcome?.edits.contains(.add(name: "X-Spam-Flag", value: "YES")) == true)
            #expect(spam.outcome?.edits.contains(.add(name: "X-Spam-Status", value: "Yes, score=0.970 required=0.500 model=kw-1")) == true)
            #expect(spam.outcome?.reply == .accept)
            #expect(filter.counters.snapshot == .init(ham: 1, tagged: 1))
            #expect(filter.messagesInFlight == 0)
        }
    }

    @Test("spam at reject_at is refused")
    func reject() async throws {
        try await withFilter(model: model, configure: { $0.policy.rejectAt = 0.95 }) { filter, driver in
            let spam = await driver.send(headers: [], body: "viagra")
            #expect(spam.outcome?.reply == .reject(text: "Message classified as spam"))
            #expect(filter.counters.snapshot.rejected == 1)
        }
    }

    @Test("authenticated senders are skipped when skip_authenticated")
    func skipAuthenticated() async throws {
        try await withFilter(model: model) { filter, driver in
            let result = await driver.send(headers: [], body: "viagra", user: "alice")
            #expect(result.decisions == [.continue, .accept])
            #expect(filter.counters.snapshot.skipped == 1)
        }
        try await withFilter(model: model, configure: { $0.skip.authenticated = false }) { _, driver in
            let result = await driver.send(headers: [], body: "viagra", user: "alice")
            #expect(result.outcome?.edits.contains(.add(name: "X-Spam-Flag", value: "YES")) == true)
        }
    }

    @Test("clients in skip_networks are skipped at connect")
    func skipNetworks() async throws {
        try await withFilter(model: model, configure: { $0.skip.networks = [IPNetwork("192.0.2.0/24")!] }) { filter, driver in
            #expect(await driver.send(headers: [], body: "viagra", client: "192.0.2.77").decisions == [.accept])
            #expect(await driver.send(headers: [], body: "viagra", client: "198.51.100.1").outcome != nil)
            #expect(filter.counters.snapshot.skipped == 1)
        }
    }

    @Test("without a classifier every message passes unscanned, whatever on_error says")
    func noClassifier() async throws {
        try await withFilter(model: nil, configure: { $0.policy.onError = .tempfail }) { filter, driver in
            let result = await driver.send(headers: [("Subject", "hello")], body: "viagra")
            #expect(result.decisions == [.continue, .accept])
            #expect(filter.counters.snapshot == .init(skipped: 1))
        }
    }

    @Test("a deadline miss follows on_error: accept, or tempfail")
    func deadlineFollowsOnError() async throws {
        let slow = FakeModel(version: "slow", delay: .milliseconds(400), behaviour: .keyword("viagra"))
        try await withFilter(model: slow, configure: { $0.model.deadlineMilliseconds = 50 }) { filter, driver in
            let result = await driver.send(headers: [("X-Spam-Flag", "NO")], body: "viagra")
            #expect(result.outcome == MessageOutcome(edits: [.delete(name: "X-Spam-Flag", index: 1)], action: "accept-unscanned"))
            #expect(filter.counters.snapshot.unclassified == 1)
        }
        try await withFilter(model: slow, configure: {
            $0.model.deadlineMilliseconds = 50
            $0.policy.onError = .tempfail
        }) { _, driver in
            let result = await driver.send(headers: [], body: "viagra")
            #expect(result.outcome?.reply == .tempfail(text: "spam classifier unavailable, try again later"))
        }
    }

    @Test("a failing model follows on_error")
    func modelFailureFollowsOnError() async throws {
        try await withFilter(model: FakeModel(behaviour: .throwing), configure: { $0.policy.onError = .tempfail }) { _, driver in
            #expect(await driver.send(headers: [], body: "x").outcome?.action == "tempfail")
        }
    }

    @Test("the body is read up to max_body_bytes, then the MTA is asked to skip the rest")
    func bodyLimit() async throws {
        try await withFilter(model: model, configure: { $0.milter.maxBodyBytes = 10 }) { filter, _ in
            let (session, _) = filter.connect(client: nil, clientName: "local")
            #expect(filter.mailFrom(session, authenticatedAs: nil, queueID: nil) == .continue)
            var first = Array("12345".utf8)
            #expect(first.withUnsafeMutableBytes { filter.body(session, UnsafeRawBufferPointer($0)) } == .continue)
            var second = Array("6789012345viagra".utf8)
            #expect(second.withUnsafeMutableBytes { filter.body(session, UnsafeRawBufferPointer($0)) } == .skipBody)
            #expect(session.message?.bodyBytes == 10)
            // The keyword lies beyond the limit: the model never sees it.
            let outcome = await onDedicatedThread { filter.endOfMessage(session, queueID: nil) }
            #expect(outcome.action == "pass")
        }
    }

    @Test("abort forgets the message; the connection carries on")
    func abortResets() async throws {
        try await withFilter(model: model) { filter, _ in
            let (session, _) = filter.connect(client: nil, clientName: "local")
            _ = filter.mailFrom(session, authenticatedAs: nil, queueID: "A")
            _ = filter.header(session, name: "Subject", value: Array("viagra".utf8))
            filter.abort(session)
            #expect(session.message == nil)
            _ = filter.mailFrom(session, authenticatedAs: nil, queueID: "B")
            _ = filter.header(session, name: "Subject", value: Array("hello".utf8))
            let outcome = await onDedicatedThread { filter.endOfMessage(session, queueID: "B") }
            #expect(outcome.action == "pass")
            #expect(session.message == nil)
        }
    }

    @Test("settings swap on update (reload)")
    func update() async throws {
        try await withFilter(model: model) { filter, driver in
            var configuration = Configuration()
            configuration.model.deadlineMilliseconds = 300_000
            configuration.policy.rejectAt = 0.9
            filter.update(FilterSettings(configuration))
            #expect(await driver.send(headers: [], body: "viagra").outcome?.action == "reject")
        }
    }

    @Test("a session is counted while it lives")
    func sessionsCounted() async throws {
        try await withFilter(model: model) { filter, _ in
            var session: MilterSession? = filter.connect(client: nil, clientName: "local").0
            #expect(filter.sessionsOpen == 1)
            #expect(session != nil)
            session = nil
            #expect(filter.sessionsOpen == 0)
        }
    }
}
