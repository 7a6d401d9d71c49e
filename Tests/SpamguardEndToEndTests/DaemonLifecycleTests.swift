import DaemonTestSupport
import Foundation
import Testing

/// The real daemon's life: configuration errors, systemd notification, signals, no classifier yet.
/// These need no trained model.
@Suite("spamguard daemon: start, notify, signals, no classifier", .serialized)
struct DaemonLifecycleTests {
    @Test("a bad configuration exits 78 and names the file and key")
    func configurationError() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("bad.conf", "[policy]\nreject_at = \"sometimes\"\n")
        let run = try await runProcess(Products.path("spamguard"), ["--foreground", "--config", path], mergingErrors: true)
        #expect(run.status == 78)
        #expect(run.output.contains("\(path): policy.reject_at: expected a number, found string"), "\(run.output)")
    }

    @Test("without a classifier: READY, a clear log line, mail passes unscanned, STATUS says so")
    func noClassifier() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await DaemonProcess(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch))
        let ready = try #require(await daemon.notify?.waitFor("READY=1"))
        #expect(ready.contains("STATUS=no classifier trained yet"))
        try scratch.write("base/config.json", "{}")  // a base model directory, but no classifier
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.logLines(containing: "no classifier has been trained yet").count == 1 })

        let message = try scratch.write("hello.eml", "Subject: hello\nFrom: a@example.org\n\nhello\n")
        let run = try await daemon.miltertest("message", ["message": message, "expect": "unscanned"])
        #expect(run.succeeded, "\(run.output)")
        #expect(daemon.logLines(containing: "queue_id=TESTQ1 verdict=unscanned reason=no-classifier action=accept").count == 1)
        #expect(await daemon.stop() == 0)
        #expect(daemon.logLines(containing: "no base model at \(scratch.file("base"))").count == 1, "\(daemon.log)")
    }

    @Test("under systemd ($JOURNAL_STREAM set) every log line starts with its syslog priority for journald")
    func journalPriorities() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await DaemonProcess(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch),
                                             environment: ["JOURNAL_STREAM": "8:12345"])
        #expect(await daemon.stop() == 0)
        let lines = daemon.log.split(separator: "\n")
        #expect(lines.count >= 4)
        for line in lines { #expect(line.range(of: #"^<[0-7]>"#, options: .regularExpression) != nil, "\(line)") }
        #expect(lines.contains { $0.hasPrefix("<3>no base model at") })   // error
        #expect(lines.contains { $0.hasPrefix("<6>listening on") })       // info
        #expect(lines.contains { $0.hasPrefix("<5>stopped:") })           // notice
    }

    @Test("sd_notify: READY, WATCHDOG while the model actor answers, RELOADING on reload, STOPPING on stop")
    func notifyProtocol() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await DaemonProcess(
            scratch: scratch, configuration: DaemonProcess.configuration(in: scratch),
            environment: ["WATCHDOG_USEC": "400000"]  // WATCHDOG_PID unset: for whoever reads it
        )
        let notify = try #require(daemon.notify)
        #expect(await notify.waitFor("WATCHDOG=1", timeout: .seconds(5)) != nil)
        daemon.signal(SIGUSR1)
        #expect(await notify.waitFor("RELOADING=1") != nil)
        #expect(await eventually { notify.messages.filter { $0.contains("READY=1") }.count == 2 })
        #expect(await daemon.stop() == 0)
        #expect(notify.messages.contains { $0.contains("STOPPING=1") })
        let watchdogPings = notify.messages.filter { $0 == "WATCHDOG=1" }.count
        #expect(watchdogPings >= 2)
    }

    @Test("SIGTERM stops gracefully with status 0; the socket is gone")
    func sigtermStops() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await DaemonProcess(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch))
        #expect(FileManager.default.fileExists(atPath: scratch.file("milter.sock")))
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await daemon.stop() == 0)
        #expect(start.duration(to: clock.now) < .seconds(10))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("milter.sock")))
        #expect(daemon.logLines(containing: "milter stopped accepting connections").count == 1)
    }

    @Test("a storm of SIGHUPs reloads and never stops the milter (libmilter's own signal thread never gets one)")
    func sighupStorm() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await DaemonProcess(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch))
        for i in 0..<3000 {
            daemon.signal(SIGHUP)
            if i % 3 == 0 { try await Task.sleep(for: .microseconds(200)) }
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(daemon.isRunning)
        #expect(daemon.logLines(containing: "milter stopped accepting connections").isEmpty)
        #expect(daemon.logLines(containing: "reloading configuration and model").count >= 1)
        let message = try scratch.write("hello.eml", "Subject: hello\n\nhello\n")
        let run = try await daemon.miltertest("message", ["message": message, "expect": "unscanned"])
        #expect(run.succeeded, "\(run.output)")
        #expect(await daemon.stop() == 0)
    }

    @Test("no thread of a serving daemon can take SIGTERM, SIGINT or SIGHUP by default action")
    func signalMasks() async throws {
        let model = try await TinyClassifier.shared.value
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await DaemonProcess(scratch: scratch, configuration: model.configuration(in: scratch))
        // Classify once, so that every lazily started thread (engine, compute, libmilter workers) exists.
        let message = try scratch.write("m.eml", TinyClassifier.message(spam: false, index: 0))
        #expect(try await daemon.miltertest("message", ["message": message, "expect": "ham"]).succeeded)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/task")
        #expect(tasks.count > 3)
        for task in tasks {
            let status = try String(contentsOfFile: "/proc/\(daemon.pid)/task/\(task)/status", encoding: .utf8)
            let wchan = (try? String(contentsOfFile: "/proc/\(daemon.pid)/task/\(task)/wchan", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("SigBlk:") } ?? ""
            let blocked = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
            func isBlocked(_ signal: Int32) -> Bool { blocked & (1 << UInt64(signal - 1)) != 0 }
            // A thread may leave one of these unblocked only while it waits for it in sigwait — or, for
            // SIGHUP, if it is the main thread, which forwards SIGHUP to reload.
            let waiting = wchan.hasPrefix("do_sigtimedwait")
            #expect(isBlocked(SIGTERM) || waiting, "thread \(task) (\(wchan)) can take SIGTERM")
            #expect(isBlocked(SIGINT) || waiting, "thread \(task) (\(wchan)) can take SIGINT")
            #expect(isBlocked(SIGHUP) || waiting || task == "\(daemon.pid)", "thread \(task) (\(wchan)) can take SIGHUP")
        }
        #expect(await daemon.stop() == 0)
    }

    @Test("a reload with a broken configuration keeps the running one")
    func reloadRefusesBadConfiguration() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let daemon = try await DaemonProcess(scratch: scratch, configuration: DaemonProcess.configuration(in: scratch))
        try scratch.write("spamguard.conf", DaemonProcess.configuration(in: scratch, extra: "[batching]\nmax_batch = 0\n"))
        daemon.signal(SIGHUP)
        #expect(await eventually { !daemon.logLines(containing: "reload refused", "batching.max_batch").isEmpty })
        #expect(daemon.isRunning)
        #expect(await daemon.stop() == 0)
    }

    @Test("without --foreground the daemon detaches: the command returns, the daemon serves")
    func detaches() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("spamguard.conf", DaemonProcess.configuration(in: scratch))
        let starter = try spawnLikeSystemd(Products.path("spamguard"), ["--config", path],
                                           environment: ProcessInfo.processInfo.environment, output: scratch.file("start.log"))
        var raw: Int32 = 0
        #expect(waitpid(starter, &raw, 0) == starter)
        #expect(raw == 0, "the starting process exits 0 once the daemon is detached: \(scratch.read("start.log"))")
        #expect(await eventually { FileManager.default.fileExists(atPath: scratch.file("milter.sock")) })
        let pid = try #require(processID(commandLineContaining: path))
        let message = try scratch.write("hello.eml", "Subject: hello\n\nhello\n")
        let mail = try await Miltertest.run("message", ["socket": "unix:\(scratch.file("milter.sock"))", "message": message, "expect": "unscanned"])
        #expect(mail.succeeded, "\(mail.output)")
        kill(pid, SIGTERM)
        #expect(await eventually { processID(commandLineContaining: path) == nil })
    }

    @Test("systemd/spamguard.service passes systemd-analyze verify")
    func unitVerifies() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let repository = (#filePath as NSString).deletingLastPathComponent + "/../.."
        let unit = try String(contentsOfFile: "\(repository)/systemd/spamguard.service", encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=", "User=spamguard", "RuntimeDirectory=spamguard", "StateDirectory=spamguard",
                     "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
                     "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallFilter=@system-service"] {
            #expect(unit.contains(line), "missing \(line)")
        }
        // verify wants ExecStart's binary to exist: point it at the one just built.
        let local = unit.replacingOccurrences(of: "/usr/local/sbin/spamguard", with: Products.path("spamguard"))
        let copy = try scratch.write("spamguard.service", local)
        let run = try await runProcess("/usr/bin/systemd-analyze", ["verify", copy], mergingErrors: true)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.isEmpty, "\(run.output)")
    }
}

/// The pid of a running process whose command line contains `text` (and is not this test).
func processID(commandLineContaining text: String) -> Int32? {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
        guard let pid = Int32(entry), pid != getpid(),
              let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
        let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        if commandLine.contains("spamguard"), commandLine.contains(text) { return pid }
    }
    return nil
}
