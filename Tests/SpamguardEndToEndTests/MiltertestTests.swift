import DaemonTestSupport
import Foundation
import Testing

/// miltertest — an independent milter client (Debian package `miltertest`) — drives the real daemon, which
/// serves a tiny classifier trained for the test run (`TinyClassifier`).
@Suite("spamguard under miltertest", .serialized)
struct MiltertestTests {
    /// Starts a daemon on the tiny classifier; `policy` goes into `[policy]`, `extra` after it.
    func daemon(_ scratch: Scratch, policy: String = "reject_at = 2", extra: String = "") async throws -> DaemonProcess {
        let model = try await TinyClassifier.shared.value
        return try await DaemonProcess(scratch: scratch, configuration: model.configuration(in: scratch, extra: """
            [policy]
            \(policy)
            \(extra)
            """))
    }

    func send(_ daemon: DaemonProcess, _ message: String, expect: String, _ more: [String: String] = [:]) async throws -> ProcessRun {
        let path = try daemon.scratch.write("message-\(UUID().uuidString).eml", message)
        return try await daemon.miltertest("message", ["message": path, "expect": expect].merging(more) { $1 })
    }

    @Test("ham gets X-Spam-Status: No; spam gets X-Spam-Flag: YES; after a reload lowering reject_at, spam gets 550 5.7.1")
    func verdicts() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await daemon(scratch)
        for index in 0..<4 {
            let ham = try await send(daemon, TinyClassifier.message(spam: false, index: index), expect: "ham")
            #expect(ham.succeeded, "\(ham.output)")
            let spam = try await send(daemon, TinyClassifier.message(spam: true, index: index), expect: "spam")
            #expect(spam.succeeded, "\(spam.output)")
        }
        #expect(daemon.logLines(containing: "verdict=ham", "action=pass").count == 4, "\(daemon.log)")
        #expect(daemon.logLines(containing: "verdict=spam", "action=flag").count == 4)

        let model = try await TinyClassifier.shared.value
        try scratch.write("spamguard.conf", model.configuration(in: scratch, extra: """
            [policy]
            reject_at = 0.9
            reject_text = "Spam is not welcome here"
            """))
        daemon.signal(SIGHUP)
        #expect(await eventually { !daemon.logLines(containing: "reload: model").isEmpty })
        let rejected = try await send(daemon, TinyClassifier.message(spam: true, index: 0), expect: "reject", ["reject_text": "Spam is not welcome here"])
        #expect(rejected.succeeded, "\(rejected.output)")
        let ham = try await send(daemon, TinyClassifier.message(spam: false, index: 0), expect: "ham")
        #expect(ham.succeeded, "\(ham.output)")
        #expect(daemon.logLines(containing: "verdict=spam", "action=reject").count == 1)
        #expect(await daemon.stop() == 0)
    }

    @Test("subject tag, quarantine, and forged X-Spam-Flag headers removed")
    func actions() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await daemon(scratch, policy: """
            reject_at = 2
            quarantine_at = 0.9
            subject_tag = "[SPAM] "
            """)
        let spam = try await send(daemon, TinyClassifier.message(spam: true, index: 0), expect: "spam",
                                  ["quarantine": "1", "subject": "[SPAM] WIN CASH PRIZE NOW"])
        #expect(spam.succeeded, "\(spam.output)")
        let forged = try await send(daemon, TinyClassifier.message(spam: false, index: 2, extraHeaders: ["X-Spam-Flag: NO"]),
                                    expect: "ham", ["deleted": "X-Spam-Flag"])
        #expect(forged.succeeded, "\(forged.output)")
        #expect(await daemon.stop() == 0)
    }

    @Test("broken MIME still gets a verdict", arguments: [
        // multipart without a boundary parameter
        "Subject: WIN CASH PRIZE NOW\nMIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nclick here\n",
        // boundary that never closes, truncated base64, unknown charset
        """
        Subject: Lunch tomorrow?
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary="b1"

        --b1
        Content-Type: text/plain; charset=x-no-such-charset
        Content-Transfer-Encoding: base64

        c2VlIHlvdSBhdCB0aGUgdXN1YWwgcGxhY2
        --b1
        Content-Type: text/html
        Content-Transfer-Encoding: quoted-printable

        <p>see you =ZZ at noon<p
        """,
        // no header/body separator at all, binary junk
        "Subject: Quarterly report draft\n\u{01}\u{02}\u{7f} garbage \u{ff}",
    ])
    func brokenMIME(message: String) async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await daemon(scratch)
        let run = try await send(daemon, message, expect: "scanned")
        #expect(run.succeeded, "\(run.output)\n\(daemon.log)")
        #expect(daemon.logLines(containing: "queue_id=TESTQ1 verdict=").count == 1)
        #expect(await daemon.stop() == 0)
    }

    @Test("authenticated senders and listed networks are not scanned")
    func skipped() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await daemon(scratch, policy: "reject_at = 2\nskip_networks = [\"198.51.100.0/24\"]")
        let spam = TinyClassifier.message(spam: true, index: 0)
        let authenticated = try await send(daemon, spam, expect: "unscanned", ["auth": "alice"])
        #expect(authenticated.succeeded, "\(authenticated.output)")
        let listed = try await send(daemon, spam, expect: "unscanned", ["client": "198.51.100.7"])
        #expect(listed.succeeded, "\(listed.output)")
        let other = try await send(daemon, spam, expect: "spam", ["client": "203.0.113.9"])
        #expect(other.succeeded, "\(other.output)")
        #expect(daemon.logLines(containing: "reason=authenticated user=alice").count == 1)
        #expect(await daemon.stop() == 0)
    }

    @Test("abort mid-message leaves nothing behind: the connection goes on, every connection's state is freed")
    func abortLeavesNothingBehind() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await daemon(scratch, extra: "[log]\nlevel = \"debug\"")
        let run = try await daemon.miltertest("abort")
        #expect(run.succeeded, "\(run.output)\n\(daemon.log)")
        #expect(daemon.logLines(containing: "queue_id=ABORTED1 aborted by the MTA").count == 1)
        #expect(daemon.logLines(containing: "queue_id=AFTERABORT verdict=ham").count == 1)
        #expect(daemon.logLines(containing: "queue_id=ABORTED1 verdict").isEmpty)
        // 11 connections: each one's state freed when it closed.
        #expect(await eventually { daemon.logLines(containing: "connection closed").count == 11 }, "\(daemon.log)")
        #expect(daemon.logLines(containing: "connection closed").last?.hasSuffix("(0 open)") == true, "\(daemon.log)")
        #expect(await daemon.stop() == 0)
    }

    @Test("50 connections at once are all answered, sharing forward passes")
    func fiftyAtOnce() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await daemon(scratch, extra: "[batching]\nmax_batch = 16\nmax_wait_ms = 50")
        var paths: [(String, Bool)] = []
        for index in 0..<50 {
            let spam = index % 2 == 0
            paths.append((try scratch.write("m\(index).eml", TinyClassifier.message(spam: spam, index: index)), spam))
        }
        let runs = try await withThrowingTaskGroup(of: ProcessRun.self) { group in
            for (index, (path, spam)) in paths.enumerated() {
                group.addTask {
                    try await daemon.miltertest("message", [
                        "message": path, "expect": spam ? "spam" : "ham", "queueid": "Q\(index)",
                    ])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.count == 50)
        for run in runs { #expect(run.succeeded, "\(run.output)") }
        let verdicts = daemon.logLines(containing: "verdict=", "batch=")
        #expect(verdicts.count == 50)
        let batches = verdicts.compactMap { line in line.split(separator: " ").first { $0.hasPrefix("batch=") }.flatMap { Int($0.dropFirst(6)) } }
        #expect(batches.max() ?? 0 > 1, "batch sizes: \(batches)")
        print("fiftyAtOnce: batch sizes seen by the 50 messages: \(batches.sorted())")
        #expect(await daemon.stop() == 0)
    }

    @Test("SIGHUP in the middle of a message: the model reloads, the connection survives")
    func reloadMidMessage() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await daemon(scratch)
        let run = try await daemon.miltertest("reload", ["pid": "\(daemon.pid)", "log": scratch.file("daemon.log")])
        #expect(run.succeeded, "\(run.output)\n\(daemon.log)")
        #expect(daemon.logLines(containing: "model swapped").count == 1)
        #expect(daemon.logLines(containing: "queue_id=RELOADQ verdict=spam").count == 1)
        #expect(await daemon.stop() == 0)
    }

    @Test("a corrupt classifier is refused with a clear log line, mail passes unscanned, and a good one reloads in")
    func corruptModel() async throws {
        let model = try await TinyClassifier.shared.value
        let scratch = try Scratch()
        defer { scratch.remove() }
        let copy = scratch.file("classifier")
        try FileManager.default.copyItem(atPath: model.classifier, toPath: copy)
        let tensors = "\(copy)/classifier.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: tensors))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: tensors))
        let configuration = DaemonProcess.configuration(in: scratch, extra: "[policy]\nreject_at = 2").replacingOccurrences(
            of: "base = \"\(scratch.file("base"))\"", with: "base = \"\(model.base)\"")
        let daemon = try await DaemonProcess(scratch: scratch, configuration: configuration)
        #expect(daemon.logLines(containing: "critical", "refusing the model", copy).count == 1, "\(daemon.log)")
        let unscanned = try await send(daemon, TinyClassifier.message(spam: true, index: 0), expect: "unscanned")
        #expect(unscanned.succeeded, "\(unscanned.output)")

        try FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: model.classifier, toPath: copy)
        daemon.signal(SIGHUP)
        #expect(await eventually { !daemon.logLines(containing: "reload: model", "(was none)").isEmpty }, "\(daemon.log)")
        let scanned = try await send(daemon, TinyClassifier.message(spam: true, index: 0), expect: "spam")
        #expect(scanned.succeeded, "\(scanned.output)")

        // Corrupt again: a reload keeps serving the good model.
        try data.prefix(100).write(to: URL(fileURLWithPath: tensors))
        daemon.signal(SIGHUP)
        #expect(await eventually { !daemon.logLines(containing: "reload: refusing the model").isEmpty })
        let still = try await send(daemon, TinyClassifier.message(spam: true, index: 1), expect: "spam")
        #expect(still.succeeded, "\(still.output)")
        #expect(await daemon.stop() == 0)
    }
}
