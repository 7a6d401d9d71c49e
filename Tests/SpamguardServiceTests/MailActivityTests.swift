import Logging
import Testing
@testable import SpamguardService

@Suite("MailActivity: idle time and messages in progress, for the learning loop")
struct MailActivityTests {
    @Test("a message is in progress while its token lives; idle time restarts when it ends")
    func tokens() async throws {
        let activity = MailActivity()
        try await Task.sleep(for: .milliseconds(30))
        #expect(activity.idleFor >= .milliseconds(30), "idle counts from the start")
        var token: MailActivity.Token? = activity.messageStarted()
        #expect(activity.messagesInProgress == 1)
        #expect(activity.idleFor == .zero)
        withExtendedLifetime(token) {}
        token = nil
        #expect(activity.messagesInProgress == 0)
        #expect(activity.idleFor < .milliseconds(30))
    }

    @Test("the filter counts a message from MAIL FROM to its verdict, and an aborted one until the abort")
    func filterHook() async throws {
        try await withFilter(model: FakeModel(behaviour: .constant(0.1))) { filter, driver in
            let (session, _) = filter.connect(client: IPAddress("192.0.2.1"), clientName: "c")
            _ = filter.mailFrom(session, authenticatedAs: nil, queueID: "Q1")
            #expect(filter.activity.messagesInProgress == 1)
            filter.abort(session)
            #expect(filter.activity.messagesInProgress == 0)

            let result = await driver.send(headers: [("Subject", "hello")], body: "hi\r\n")
            #expect(result.outcome != nil)
            #expect(filter.activity.messagesInProgress == 0)
            #expect(filter.activity.idleFor < .seconds(5))
        }
    }
}
