import ControlProtocol
import DaemonTestSupport
import Foundation
import Testing
@testable import Learning
import SpamguardService

@Suite("MailCheck: what counts as a message, and its identity")
struct MailCheckTests {
    @Test func messagesPassAndOtherFilesSayWhyNot() {
        #expect(MailCheck.rejection(of: Array(mail("hi", "there").utf8)) == nil)
        #expect(MailCheck.rejection(of: Array(("From a@b Mon Jan  1 00:00:00 2024\n" + mail("hi", "there")).utf8)) == nil)
        #expect(MailCheck.rejection(of: []) == "empty file")
        #expect(MailCheck.rejection(of: [0x89, 0x50, 0x4e, 0x47, 0x00, 0x01]) == "binary content (a NUL byte at offset 4)")
        #expect(MailCheck.rejection(of: Array("just some notes\nno headers here\n".utf8))?.hasPrefix("no header section") == true)
        #expect(MailCheck.rejection(of: Array("\n\n\n".utf8))?.hasPrefix("no header section") == true)
    }

    @Test func lineEndsDoNotChangeTheIdentity() {
        let crlf = Array(mail("hi", "line one\r\nline two").utf8)
        let lf = Array(mail("hi", "line one\r\nline two").replacingOccurrences(of: "\r\n", with: "\n").utf8)
        #expect(MailCheck.digest(of: crlf) == MailCheck.digest(of: lf))
        #expect(MailCheck.digest(of: crlf) != MailCheck.digest(of: Array(mail("hi", "line one").utf8)))
        #expect(MailCheck.digest(of: Array("a\r".utf8)) != MailCheck.digest(of: Array("a".utf8)), "a lone CR is content")
    }
}

@Suite("FeedbackIntake: claim, check, record, file away")
struct IntakeTests {
    struct Fixture {
        let root: String
        let folder: FeedbackFolder
        let ledger: Ledger
        let intake: FeedbackIntake

        init(root: String, maxMessageBytes: Int = 1 << 20) throws {
            self.root = root
            folder = FeedbackFolder(root: root + "/feedback")
            try folder.prepare()
            ledger = try Ledger(path: root + "/ledger.jsonl", logger: quiet)
            intake = FeedbackIntake(folder: folder, ledger: ledger, maxMessageBytes: maxMessageBytes, logger: quiet)
        }

        /// The same directories and ledger file, opened again (a restart).
        func reopened() throws -> Fixture { try Fixture(root: root) }
    }

    @Test func plainFilesAndMaildirsAreTakenIn() async throws {
        try await onThread { try self.plainFilesAndMaildirsAreTakenInBody() }
    }

    func plainFilesAndMaildirsAreTakenInBody() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let f = try Fixture(root: root)
        try write(mail("cheap pills", "buy"), to: f.folder.inbox(.spam) + "/one.eml")
        try write(mail("more pills", "buy more"), to: f.folder.inbox(.spam) + "/new/1700000000.M1P2.host")
        try write(mail("lunch", "at noon"), to: f.folder.inbox(.ham) + "/cur/1700000001.M3P4.host:2,S")
        try write(mail("half", "delivered"), to: f.folder.inbox(.ham) + "/tmp/1700000002.M5P6.host")
        try write(mail("hidden", "temp"), to: f.folder.inbox(.ham) + "/.sieve-tmp")

        let report = try f.intake.takeIn()
        #expect(report.learned == 3 && report.rejected == 0)
        #expect(names(f.folder.learned).count == 3)
        #expect(names(f.folder.claimed).isEmpty)
        #expect(names(f.folder.inbox(.ham) + "/tmp") == ["1700000002.M5P6.host"], "Maildir tmp/ is a delivery in progress")
        #expect(names(f.folder.inbox(.ham)).contains("tmp"))
        let state = f.ledger.state
        #expect(state.learned == 3 && state.untrained.count == 3)
        #expect(Set(state.messages.values.map(\.origin)) == ["spam/one.eml", "spam/new/1700000000.M1P2.host", "ham/cur/1700000001.M3P4.host:2,S"])
        #expect(state.messages.values.filter { $0.label == .spam }.count == 2)
    }

    @Test func notMailIsRejectedWithTheReason() async throws {
        try await onThread { try self.notMailIsRejectedWithTheReasonBody() }
    }

    func notMailIsRejectedWithTheReasonBody() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let f = try Fixture(root: root, maxMessageBytes: 500)
        try write("", to: f.folder.inbox(.spam) + "/empty")
        try Data([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0]).write(to: URL(fileURLWithPath: f.folder.inbox(.spam) + "/binary"))
        try write(mail("big", String(repeating: "x", count: 600)), to: f.folder.inbox(.ham) + "/big")

        let report = try f.intake.takeIn()
        #expect(report.rejected == 3 && report.learned == 0)
        #expect(names(f.folder.rejected).count == 3)
        #expect(f.ledger.state.rejected == 3)
        let reasons = try String(contentsOfFile: f.ledger.path, encoding: .utf8)
        #expect(reasons.contains("\"reason\":\"empty file\""))
        #expect(reasons.contains("binary content"))
        #expect(reasons.contains("larger than max_message_bytes"))
    }

    @Test func theSameMessageCountsOnceAndTheNewestLabelWins() async throws {
        try await onThread { try self.theSameMessageCountsOnceAndTheNewestLabelWinsBody() }
    }

    func theSameMessageCountsOnceAndTheNewestLabelWinsBody() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let f = try Fixture(root: root)
        let message = mail("are you there", "call me")
        try write(message, to: f.folder.inbox(.spam) + "/a")
        try write(message.replacingOccurrences(of: "\r\n", with: "\n"), to: f.folder.inbox(.spam) + "/b")
        var report = try f.intake.takeIn()
        #expect(report.learned == 1 && report.duplicates == 1)
        #expect(f.ledger.state.learned == 1)

        try write(message, to: f.folder.inbox(.ham) + "/c")
        report = try f.intake.takeIn()
        #expect(report.relabeled == 1)
        let state = f.ledger.state
        #expect(state.learned == 1 && state.relabeled == 1 && state.duplicates == 1)
        #expect(state.messages.values.first?.label == .ham)
        #expect(names(f.folder.learned) == [MailCheck.digest(of: Array(message.utf8))])
        // And after a restart the ledger says the same.
        #expect(try Ledger(path: f.ledger.path, logger: quiet).state == state)
    }

    @Test func aClaimACrashInterruptedIsFinishedAtStart() async throws {
        try await onThread { try self.aClaimACrashInterruptedIsFinishedAtStartBody() }
    }

    func aClaimACrashInterruptedIsFinishedAtStartBody() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let f = try Fixture(root: root)
        // Crash right after the claim's rename: the file sits in claimed/, nothing recorded.
        let unrecorded = ClaimName(label: .spam, origin: "spam/new/1.host")
        try write(mail("pills", "cheap"), to: f.folder.claimed + "/" + unrecorded.name)
        // Crash after the ledger record, before filing away.
        let recorded = ClaimName(label: .ham, origin: "ham/2")
        let body = mail("minutes", "attached")
        try write(body, to: f.folder.claimed + "/" + recorded.name)
        try f.ledger.recordMessage(claim: recorded.name, hash: MailCheck.digest(of: Array(body.utf8)), label: .ham, origin: "ham/2")
        // A crash after recording a rejection.
        let rejected = ClaimName(label: .ham, origin: "ham/3")
        try write("", to: f.folder.claimed + "/" + rejected.name)
        try f.ledger.recordRejection(claim: rejected.name, label: .ham, origin: "ham/3", reason: "empty file")

        let restarted = try f.reopened()
        let report = try restarted.intake.recover()
        #expect(report.learned == 1, "only the unrecorded claim is counted now")
        #expect(names(f.folder.claimed).isEmpty)
        #expect(names(f.folder.learned).count == 2)
        #expect(names(f.folder.rejected) == [rejected.name])
        let state = restarted.ledger.state
        #expect(state.learned == 2 && state.rejected == 1 && state.duplicates == 0)
        #expect(state.messages.values.contains { $0.origin == "spam/new/1.host" && $0.label == .spam })
    }

    @Test func claimNamesCarryLabelAndOrigin() async throws {
        try await onThread { try self.claimNamesCarryLabelAndOriginBody() }
    }

    func claimNamesCarryLabelAndOriginBody() throws {
        let claim = ClaimName(label: .ham, origin: "ham/cur/17.M1:2,S%x")
        let parsed = try #require(ClaimName(parsing: claim.name))
        #expect(parsed == claim)
        #expect(!claim.name.contains("/"))
        #expect(ClaimName(parsing: "README") == nil)
        #expect(ClaimName(parsing: "junk.1.x") == nil)
    }

    @Test func droppedFilesArriveWhole() async throws {
        try await onThread { try self.droppedFilesArriveWholeBody() }
    }

    func droppedFilesArriveWholeBody() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let f = try Fixture(root: root)
        let origin = try f.folder.drop(Array(mail("x", "y").utf8), label: .spam, name: "/home/u/Maildir/cur/123:2,S")
        #expect(origin.hasPrefix("spam/learn-"))
        #expect(names(f.folder.inbox(.spam)).count == 1, "no temporary file is left behind")
        #expect(try f.intake.takeIn().learned == 1)
        #expect(f.ledger.state.messages.values.first?.origin == origin)
    }

    @Test func retentionRemovesOldFilesAndTheirMessagesLeaveTraining() async throws {
        try await onThread { try self.retentionRemovesOldFilesAndTheirMessagesLeaveTrainingBody() }
    }

    func retentionRemovesOldFilesAndTheirMessagesLeaveTrainingBody() throws {
        let root = try temporaryDirectory()
        defer { remove(root) }
        let f = try Fixture(root: root)
        try write(mail("old", "one"), to: f.folder.inbox(.spam) + "/old")
        try write("", to: f.folder.inbox(.spam) + "/bad")
        try f.intake.takeIn()
        #expect(f.ledger.state.untrained.count == 1)
        #expect(try f.intake.expire(before: Date().addingTimeInterval(-60)) == 0, "nothing is that old")
        #expect(try f.intake.expire(before: Date().addingTimeInterval(60)) == 2)
        #expect(names(f.folder.learned).isEmpty && names(f.folder.rejected).isEmpty)
        #expect(f.ledger.state.untrained.isEmpty)
        #expect(f.ledger.state.learned == 1, "the ledger remembers it")
    }
}
