import ControlProtocol
import Foundation

/// The real `spamguard` in the foreground on a scratch directory: its configuration is written there, its
/// stderr goes to `daemon.log`, its milter and control sockets and its state live there.
final class Daemon: @unchecked Sendable {
    let scratch: Scratch
    let configurationPath: String
    var milterSocket: String { "unix:" + scratch.file("milter.sock") }
    var controlSocket: String { scratch.file("control.sock") }
    private let process = Process()

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: scratch.file("daemon.log"), encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }

    /// A configuration on `scratch`: models under `base` and `classifier`, then `extra` (TOML) appended.
    static func configuration(in scratch: Scratch, extra: String = "") -> String {
        """
        [milter]
        listen = "unix:\(scratch.file("milter.sock"))"
        timeout_seconds = 10
        [model]
        base = "\(scratch.file("base"))"
        classifier = "\(scratch.file("classifier"))"
        [control]
        socket = "\(scratch.file("control.sock"))"
        [state]
        dir = "\(scratch.path)"
        \(extra)
        """
    }

    /// Starts the daemon on `configuration` (written to spamguard.conf) and waits until its control socket answers.
    init(scratch: Scratch, configuration: String) async throws {
        self.scratch = scratch
        configurationPath = try scratch.write("spamguard.conf", configuration)
        process.executableURL = URL(fileURLWithPath: Products.path("spamguard"))
        process.arguments = ["--foreground", "--config", configurationPath]
        var environment = ProcessInfo.processInfo.environment
        for name in ["NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC"] { environment.removeValue(forKey: name) }
        process.environment = environment
        if !FileManager.default.fileExists(atPath: scratch.file("daemon.log")) {
            _ = FileManager.default.createFile(atPath: scratch.file("daemon.log"), contents: nil)
        }
        let log = FileHandle(forWritingAtPath: scratch.file("daemon.log"))!
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let answering = await eventually(timeout: .seconds(30)) { [controlSocket, process] in
            guard process.isRunning else { return true }
            return (try? await offPool { try ControlClient(socketPath: controlSocket).request(.ping, expecting: PingResult.self) }) != nil
        }
        guard answering, process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            throw HarnessError("spamguard did not come up; its log:\n\(self.log)")
        }
    }

    /// Rewrites the configuration (for the next reload or start).
    func reconfigure(_ configuration: String) throws {
        try scratch.write("spamguard.conf", configuration)
    }

    /// SIGTERM, then the exit status (128 + signal when a signal ended it); SIGKILL after `timeout`.
    @discardableResult
    func stop(timeout: Duration = .seconds(20)) async -> Int32? {
        if process.isRunning { kill(pid, SIGTERM) }
        if await eventually(timeout: timeout, { !process.isRunning }) {
            return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        }
        kill(pid, SIGKILL)
        _ = await eventually { !process.isRunning }
        return nil
    }

    /// SIGKILL: no clean shutdown (the control socket file stays behind). Also the quick way to end a test
    /// whose subject is not shutdown: libmilter notices SIGTERM only at its next 5-second poll.
    func crash() async {
        kill(pid, SIGKILL)
        _ = await eventually { !process.isRunning }
    }

    /// `spamguardctl ARGUMENTS --socket <this daemon's>`, optionally through `prefix` (setpriv …).
    func ctl(_ arguments: String..., prefix: [String] = []) async throws -> ProcessRun {
        try await run(Products.path("spamguardctl"), arguments + ["--socket", controlSocket], prefix: prefix)
    }

    /// `spamguardctl stats --json`, decoded.
    func stats() async throws -> StatsReport {
        let result = try await ctl("stats", "--json")
        guard result.status == 0 else { throw HarnessError("stats exited \(result.status): \(result.errors)") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(StatsReport.self, from: Data(result.output.utf8))
    }

    /// One message through the milter with miltertest; `expect` is ham, tagged, rejected or skipped.
    func send(_ message: String, expect: String, auth: String? = nil, queueID: String = "CTLQ1") async throws -> ProcessRun {
        var arguments = ["-s", Miltertest.script, "-D", "socket=\(milterSocket)", "-D", "message=\(message)", "-D", "expect=\(expect)",
                         "-D", "queueid=\(queueID)"]
        if let auth { arguments += ["-D", "auth=\(auth)"] }
        return try await run("/usr/bin/miltertest", arguments)
    }
}

enum Miltertest {
    static let script = (#filePath as NSString).deletingLastPathComponent + "/../miltertest/send.lua"
}
