import DaemonTestSupport
import Foundation
import Testing

/// A real Postfix with `smtpd_milters` pointing at the real daemon (tiny trained classifier). Postfix's
/// master must run as root, so these run where the suite runs as root (CI does, via scripts/test).
@Suite("spamguard behind a real Postfix", .serialized, .enabled(if: getuid() == 0, "Postfix's master needs root"))
struct PostfixTests {
    /// Postfix's smtpd runs as user postfix: the socket must let it in.
    static let milter = "socket_mode = \"0666\""

    @Test("delivered mail carries the headers; spam above reject_at is refused at SMTP time")
    func headersAndRejection() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let model = try await TinyClassifier.shared.value
        let daemon = try await DaemonProcess(scratch: scratch, configuration: model.configuration(in: scratch, milter: Self.milter, extra: "[policy]\nreject_at = 2"))
        let postfix = try await PostfixInstance(scratch: scratch, milter: daemon.milterSocket)

        let ham = try await postfix.send(TinyClassifier.message(spam: false, index: 0))
        #expect(ham.succeeded, "\(ham.output)")
        let spam = try await postfix.send(TinyClassifier.message(spam: true, index: 0))
        #expect(spam.succeeded, "\(spam.output)")
        let mailbox = await postfix.waitForDeliveries(2)
        #expect(mailbox.count == 2, "\(postfix.log)")
        let hamHeaders = mailbox.map(headerBlock).first { $0.contains("Subject: \(TinyClassifier.hamSubjects[0])") } ?? ""
        let spamHeaders = mailbox.map(headerBlock).first { $0.contains("Subject: \(TinyClassifier.spamSubjects[0])") } ?? ""
        #expect(hamHeaders.contains("X-Spam-Status: No, score="), "\(hamHeaders)")
        #expect(hamHeaders.contains("X-Spam-Score: 0."))
        #expect(!hamHeaders.contains("X-Spam-Flag"))
        #expect(spamHeaders.contains("X-Spam-Flag: YES"), "\(spamHeaders)")
        #expect(spamHeaders.contains("X-Spam-Status: Yes, score="))
        // The queue id in the daemon's log is Postfix's.
        let queueIDs = daemon.logLines(containing: "verdict=").compactMap { $0.split(separator: " ").first { $0.hasPrefix("queue_id=") } }
        #expect(queueIDs.count == 2)
        for id in queueIDs { #expect(postfix.log.contains("\(id.dropFirst(9)): client="), "\(id)") }

        // Lower reject_at and reload: now the spam is refused while the SMTP client waits.
        try scratch.write("spamguard.conf", model.configuration(in: scratch, milter: Self.milter, extra: "[policy]\nreject_at = 0.9"))
        daemon.signal(SIGHUP)
        #expect(await eventually { !daemon.logLines(containing: "reload: model").isEmpty })
        let refused = try await postfix.send(TinyClassifier.message(spam: true, index: 1))
        #expect(!refused.succeeded)
        #expect(refused.output.contains("550 5.7.1 Message classified as spam"), "\(refused.output)")
        let hamAgain = try await postfix.send(TinyClassifier.message(spam: false, index: 1))
        #expect(hamAgain.succeeded, "\(hamAgain.output)")
        #expect(await postfix.waitForDeliveries(3).count == 3)
        try await Task.sleep(for: .milliseconds(300))
        #expect(postfix.delivered().count == 3, "the refused spam must not be delivered")

        try await postfix.stop()
        #expect(await daemon.stop() == 0)
    }

    @Test("with the daemon killed, mail still flows (milter_default_action = accept)")
    func daemonDown() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let model = try await TinyClassifier.shared.value
        let daemon = try await DaemonProcess(scratch: scratch, configuration: model.configuration(in: scratch, milter: Self.milter, extra: "[policy]\nreject_at = 0.5"))
        let postfix = try await PostfixInstance(scratch: scratch, milter: daemon.milterSocket)
        let before = try await postfix.send(TinyClassifier.message(spam: true, index: 2))
        #expect(before.output.contains("550 5.7.1"), "the daemon is up and rejects: \(before.output)")

        daemon.signal(SIGKILL)
        _ = await daemon.waitForExit()
        let spam = try await postfix.send(TinyClassifier.message(spam: true, index: 3))
        #expect(spam.succeeded, "\(spam.output)\n\(postfix.log)")
        let ham = try await postfix.send(TinyClassifier.message(spam: false, index: 3))
        #expect(ham.succeeded, "\(ham.output)")
        let mailbox = await postfix.waitForDeliveries(2)
        #expect(mailbox.count == 2)
        for message in mailbox { #expect(!headerBlock(message).contains("X-Spam-")) }
        #expect(postfix.log.contains("milter"), "Postfix noted the milter was unreachable")
        try await postfix.stop()
    }
}
