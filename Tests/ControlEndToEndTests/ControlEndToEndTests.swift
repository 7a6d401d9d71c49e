import ControlProtocol
import DaemonTestSupport
import Foundation
import Testing

/// The operator's surface of the real daemon: `spamguardctl stats/reload/status/ping`, the control socket, the
/// persisted counters and the Prometheus endpoint, driven with miltertest, spamguardctl and curl.
@Suite("spamguard control socket, spamguardctl and metrics, against the real daemon", .serialized)
struct ControlEndToEndTests {
    /// Policies that make each scanned message's outcome certain, whatever the tiny model's score
    /// (a probability strictly between 0 and 1): all ham, all tagged, or all rejected.
    static let allHam = "[policy]\nadd_header_at = 1.0\nreject_at = 2.0\n"
    static let allTagged = "[policy]\nadd_header_at = 0.0\nreject_at = 2.0\n"
    static let allRejected = "[policy]\nadd_header_at = 0.0\nreject_at = 0.0\n"

    /// A scratch directory with the tiny base model and classifiers trained on it (seeds 1, 2, …), the first
    /// at `classifier`, the others at `classifier-2`, …; returns their versions.
    private func prepare(_ scratch: Scratch, classifiers: Int) async throws -> [String] {
        try TinyModels.writeBase(to: scratch.file("base"))
        var versions: [String] = []
        for seed in 1...max(1, classifiers) {
            let directory = scratch.file(seed == 1 ? "classifier" : "classifier-\(seed)")
            versions.append(try await TestModels.train(base: scratch.file("base"), into: directory, seed: seed, scratch: scratch))
        }
        return versions
    }

    private func outcomeCounts(_ report: StatsReport) -> [String: Int] {
        report.messages.outcomes.mapValues(\.count)
    }

    @Test("after known traffic, stats and Prometheus show the exact counts per outcome; they survive a restart")
    func countsSurviveRestart() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let versions = try await prepare(scratch, classifiers: 1)
        let port = try freeLoopbackPort()
        let metrics = "[metrics]\nlisten = \"127.0.0.1:\(port)\"\n"
        let configuration = { (policy: String) in DaemonProcess.configuration(in: scratch, extra: metrics + policy) }
        let ham = try scratch.write("ham.eml", TestModels.message("lunch", "meeting moved to tuesday"))

        let daemon = try await DaemonProcess.answering(scratch: scratch, configuration: configuration(Self.allHam))
        for index in 0..<3 {
            let sent = try await daemon.send(ham, expect: "ham", queueID: "H\(index)")
            #expect(sent.status == 0, "\(sent.output)\(sent.errors)")
        }
        for index in 0..<2 {
            let sent = try await daemon.send(ham, expect: "unscanned", auth: "alice", queueID: "S\(index)")
            #expect(sent.status == 0, "\(sent.output)\(sent.errors)")
        }
        try daemon.reconfigure(configuration(Self.allTagged))
        #expect(try await daemon.ctl("reload").status == 0)
        for index in 0..<2 {
            let sent = try await daemon.send(ham, expect: "spam", queueID: "T\(index)")
            #expect(sent.status == 0, "\(sent.output)\(sent.errors)")
        }
        try daemon.reconfigure(configuration(Self.allRejected))
        #expect(try await daemon.ctl("reload").status == 0)
        let rejected = try await daemon.send(ham, expect: "reject", queueID: "R0")
        #expect(rejected.status == 0, "\(rejected.output)\(rejected.errors)")

        let expected = ["ham": 3, "tagged": 2, "quarantined": 0, "rejected": 1, "skipped": 2, "errors": 0, "timeouts": 0]
        let before = try await daemon.stats()
        #expect(outcomeCounts(before) == expected)
        #expect(before.messages.total == 8)
        #expect(before.messages.scanned == 6)
        #expect(before.messages.outcomes["ham"]?.share == 3.0 / 8)
        #expect(before.latency.sinceStart.count == 6)
        #expect(before.latency.lastFiveMinutes.count == 6)
        #expect(before.latency.sinceStart.p50Milliseconds > 0)
        #expect(before.latency.sinceStart.maxMilliseconds >= before.latency.sinceStart.p99Milliseconds)
        #expect(before.batches == BatchFigures(forwardPasses: 6, sizes: ["1": 6]))
        #expect(before.classifier?.version == versions[0])
        #expect(before.classifier?.validation != nil)
        #expect(before.classifier?.base == scratch.file("base"))
        #expect(before.classifier?.baseSHA256?.count == 64)
        #expect(before.daemon.residentMemoryBytes > 1 << 20)

        let scraped = try await runProcess("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(port)/metrics"])
        #expect(scraped.status == 0, "\(scraped.errors)")
        for (outcome, count) in expected {
            #expect(scraped.output.contains("spamguard_messages_total{outcome=\"\(outcome)\"} \(count)\n"), "\(outcome) in\n\(scraped.output)")
        }
        #expect(scraped.output.contains("# TYPE spamguard_classify_seconds histogram\n"))
        #expect(scraped.output.contains("spamguard_classify_seconds_count 6\n"))
        #expect(scraped.output.contains("spamguard_classifier_info{version=\"\(versions[0])\"} 1"))

        // A table for people, with the same figures.
        let table = try await daemon.ctl("stats")
        #expect(table.status == 0)
        let rows = table.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.contains(["ham", "3", "37.50%"]), "\(table.output)")
        #expect(rows.contains(["total", "8", "100.00%"]), "\(table.output)")

        #expect(await daemon.stop() == 0)
        let restarted = try await DaemonProcess.answering(scratch: scratch, configuration: configuration(Self.allRejected))
        let after = try await restarted.stats()
        #expect(outcomeCounts(after) == expected)
        #expect(after.messages.since == before.messages.since)
        #expect(after.latency.sinceStart.count == 0, "latency is since this start")
        let rescraped = try await runProcess("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(port)/metrics"])
        #expect(rescraped.output.contains("spamguard_messages_total{outcome=\"ham\"} 3\n"), "\(rescraped.output)")

        let more = try await restarted.send(ham, expect: "reject", queueID: "R1")
        #expect(more.status == 0, "\(more.output)\(more.errors)")
        #expect(try await restarted.stats().messages.outcomes["rejected"]?.count == 2)
        #expect(await restarted.stop() == 0)
    }

    @Test("malformed, oversized, half-sent and unprivileged requests are refused while mail keeps flowing")
    func misbehavingPeers() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        _ = try await prepare(scratch, classifiers: 1)
        chmod(scratch.path, 0o755)  // let another user reach the socket (its own mode still applies)
        let daemon = try await DaemonProcess.answering(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch, extra: Self.allHam))
        let ham = try scratch.write("ham.eml", TestModels.message("notes", "notes from the project call"))

        // Mail flows the whole time.
        let mail = Task {
            var failures: [String] = []
            for index in 0..<12 {
                let sent = try await daemon.send(ham, expect: "ham", queueID: "M\(index)")
                if sent.status != 0 { failures.append(sent.output + sent.errors) }
            }
            return failures
        }

        let socket = daemon.controlSocket
        let (codes, pid, oversized, afterOversized) = try await offPool {
            // A half-sent request holds its own connection only (kept open until the end of this block).
            let halfSent = try ControlClient(socketPath: socket)
            try halfSent.write(Array(#"{"v":1,"op":"sta"#.utf8), deadline: .now + .seconds(1), timeout: .seconds(1))

            // Malformed lines get an error line each, and the connection stays usable.
            let client = try ControlClient(socketPath: socket)
            var codes: [String] = []
            for bad in ["this is not json", #"{"op":"stats"}"#, #"{"v":1,"op":"rm -rf"}"#, #"{"v":9,"op":"ping"}"#] {
                try client.write(Array((bad + "\n").utf8), deadline: .now + .seconds(5), timeout: .seconds(5))
                let answer = try client.readLine(deadline: .now + .seconds(5), timeout: .seconds(5))
                codes.append(try ControlCoding.decode(ControlResponse<NoResult>.self, from: answer).error?.code.rawValue ?? "none")
            }
            let pid = try client.request(.ping, expecting: PingResult.self).pid

            // An oversized line: an error line, then the daemon closes the connection. This test is root, whose
            // lines may be longer (learn carries whole messages): over that limit too.
            let flooder = try ControlClient(socketPath: socket)
            let oversized = ControlProtocol.maxPrivilegedLineBytes + 64 * 1024
            try? flooder.write([UInt8](repeating: UInt8(ascii: "x"), count: oversized), deadline: .now + .seconds(5), timeout: .seconds(5))
            let refusal = try ControlCoding.decode(ControlResponse<NoResult>.self, from: flooder.readLine(deadline: .now + .seconds(5), timeout: .seconds(5)))
            let afterwards = Result { try flooder.readLine(deadline: .now + .seconds(5), timeout: .seconds(5)) }
            withExtendedLifetime(halfSent) {}
            return (codes, pid, refusal.error?.code, (try? afterwards.get()) == nil)
        }
        #expect(codes == ["bad_request", "bad_request", "unknown_op", "unsupported_version"])
        #expect(pid == daemon.pid)
        #expect(oversized == .tooLarge)
        #expect(afterOversized, "the daemon closed the oversized request's connection")

        // Someone in the daemon's group, but not its user: may read, may not reload.
        let member = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--groups=\(getegid())"]
        let reload = try await daemon.ctl("reload", prefix: member)
        #expect(reload.status == 5)
        #expect(reload.errors == "spamguardctl: reload changes the daemon's state: only root or the daemon's user (uid \(geteuid())) may ask, not uid 65534\n")
        #expect(try await daemon.ctl("stats", "--json", prefix: member).status == 0)
        #expect(daemon.log.contains("control: refused reload from pid"))
        #expect(!daemon.log.contains("reloading configuration and model"))
        // Someone outside the group cannot open the socket at all.
        let outsider = try await daemon.ctl("status", prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        #expect(outsider.status == 5)
        #expect(outsider.errors.hasPrefix("spamguardctl: permission denied on \(daemon.controlSocket)"))

        let failures = try await mail.value
        #expect(failures.isEmpty, "\(failures)")
        #expect(try await daemon.stats().messages.outcomes["ham"]?.count == 12)
        await daemon.crash()  // a clean stop costs libmilter's 5-second poll; other tests cover it
    }

    @Test("reload swaps in a new classifier between messages; a corrupt one or a bad configuration is refused and the old one serves on")
    func reloadClassifier() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let versions = try await prepare(scratch, classifiers: 2)
        #expect(versions[0] != versions[1])
        let daemon = try await DaemonProcess.answering(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch, extra: Self.allHam))
        let ham = try scratch.write("ham.eml", TestModels.message("report", "please review the report"))
        #expect(try await daemon.stats().classifier?.version == versions[0])

        // Mail flows while the model changes under it.
        let mail = Task {
            var results: [ProcessRun] = []
            for index in 0..<8 { results.append(try await daemon.send(ham, expect: "ham", queueID: "F\(index)")) }
            return results
        }
        try FileManager.default.moveItem(atPath: scratch.file("classifier"), toPath: scratch.file("classifier-1"))
        try FileManager.default.moveItem(atPath: scratch.file("classifier-2"), toPath: scratch.file("classifier"))
        let swapped = try await daemon.ctl("reload")
        #expect(swapped.status == 0, "\(swapped.errors)")
        #expect(swapped.output == "reloaded: configuration re-read; classifier \(versions[1]) (was \(versions[0]))\n")
        #expect(try await daemon.stats().classifier?.version == versions[1])
        for run in try await mail.value { #expect(run.status == 0, "\(run.output)\(run.errors)") }
        let afterSwap = try await daemon.send(ham, expect: "ham", queueID: "G1")
        #expect(afterSwap.output.contains("model=\(versions[1])"), "\(afterSwap.output)")

        // A corrupt classifier: refused with the reason; the one serving stays.
        let tensors = scratch.file("classifier/classifier.safetensors")
        try Data("not safetensors at all".utf8).write(to: URL(fileURLWithPath: tensors))
        let corrupt = try await daemon.ctl("reload")
        #expect(corrupt.status == 1)
        #expect(corrupt.errors.hasPrefix("spamguardctl: model refused (classifier \(scratch.file("classifier"))): "), "\(corrupt.errors)")
        #expect(corrupt.errors.hasSuffix("; keeping model \(versions[1])\n"), "\(corrupt.errors)")
        #expect(try await daemon.stats().classifier?.version == versions[1])
        let stillServing = try await daemon.send(ham, expect: "ham", queueID: "G2")
        #expect(stillServing.status == 0)
        #expect(stillServing.output.contains("model=\(versions[1])"), "\(stillServing.output)")

        // A configuration that does not parse: nothing changes.
        try daemon.reconfigure("[policy]\nreject_at = \"sometimes\"\n")
        let badConfiguration = try await daemon.ctl("reload")
        #expect(badConfiguration.status == 1)
        #expect(badConfiguration.errors.contains("configuration refused: \(daemon.configurationPath): policy.reject_at: expected a number"), "\(badConfiguration.errors)")
        #expect(try await daemon.stats().classifier?.version == versions[1])
        await daemon.crash()  // a clean stop costs libmilter's 5-second poll; other tests cover it
    }

    @Test("spamguardctl: no socket, nobody listening, permission denied, unreadable configuration: one line and its own exit status each")
    func unreachableDaemon() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let ctl = Products.path("spamguardctl")

        let missing = try await runProcess(ctl, ["ping", "--socket", scratch.file("control.sock")])
        #expect(missing.status == 4)
        #expect(missing.errors == "spamguardctl: no control socket at \(scratch.file("control.sock")): is spamguard running? (systemctl status spamguard)\n")

        let unreadable = try await runProcess(ctl, ["status", "--config", scratch.file("nowhere.conf")])
        #expect(unreadable.status == 78)
        #expect(unreadable.errors.split(separator: "\n").count == 1, "\(unreadable.errors)")

        // No classifier needed here: the daemon runs and passes mail unscanned.
        let daemon = try await DaemonProcess.answering(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch))
        let byConfiguration = try await runProcess(ctl, ["ping", "--quiet", "--config", daemon.configurationPath])
        #expect(byConfiguration.status == 0)
        #expect(byConfiguration.output.isEmpty)
        let status = try await daemon.ctl("status")
        #expect(status.status == 0)
        #expect(status.output.hasPrefix("spamguard is running: pid \(daemon.pid), up "))
        #expect(status.output.contains("no classifier loaded (mail passes unscanned)"))
        let noModel = try await daemon.ctl("reload")
        #expect(noModel.status == 1)
        #expect(noModel.errors.contains("no base model at \(scratch.file("base"))"))

        let denied = try await daemon.ctl("ping", prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        #expect(denied.status == 5)

        await daemon.crash()  // leaves the socket file behind
        #expect(FileManager.default.fileExists(atPath: daemon.controlSocket))
        let notRunning = try await runProcess(ctl, ["ping", "--socket", daemon.controlSocket])
        #expect(notRunning.status == 3)
        #expect(notRunning.errors == "spamguardctl: spamguard is not running (nothing listens on \(daemon.controlSocket))\n")

        // The next start replaces the stale socket file.
        let again = try await DaemonProcess.answering(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch))
        #expect(try await again.ctl("ping").status == 0)
        #expect(await again.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: again.controlSocket), "a clean stop removes the socket")
    }
}
