import ControlProtocol
import Foundation
import Glibc

/// The real `spamguard` binary, started in the foreground on a scratch directory with a generated
/// configuration, its log in `daemon.log` there. Stopped with SIGTERM (SIGKILL if it will not stop).
final class DaemonUnderTest {
    let directory: URL
    let milterSocket: String
    let controlSocket: String
    let process = Process()

    struct Settings {
        var maxBatch: Int?
        var maxWaitMilliseconds: Int?
        var logLevel = "info"
    }

    /// The configuration: the classifier, sockets and state in `directory`, the learning loop off; nothing is
    /// rejected or quarantined (every message gets its X-Spam-Status) and the deadline is long enough that no
    /// message passes unscanned even with 32 connections on the 124M shape. Batching keys only when given, so
    /// that the shipped defaults are what is measured otherwise.
    static func configuration(directory: URL, classifier: BenchClassifier, settings: Settings) -> String {
        var batching = ""
        if let maxBatch = settings.maxBatch { batching += "max_batch = \(maxBatch)\n" }
        if let maxWait = settings.maxWaitMilliseconds { batching += "max_wait_ms = \(maxWait)\n" }
        return """
            [milter]
            listen = "unix:\(directory.path)/milter.sock"
            timeout_seconds = 120
            [model]
            base = "\(classifier.base.path)"
            classifier = "\(classifier.bundle.path)"
            deadline_ms = 110000
            [batching]
            \(batching)
            [policy]
            reject_at = 2.0
            quarantine_at = 2.0
            [control]
            socket = "\(directory.path)/control.sock"
            [state]
            dir = "\(directory.path)"
            [feedback]
            enabled = false
            [log]
            level = "\(settings.logLevel)"

            """
    }

    init(executable: String, classifier: BenchClassifier, settings: Settings, directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        milterSocket = directory.path + "/milter.sock"
        controlSocket = directory.path + "/control.sock"
        let configuration = directory.appendingPathComponent("spamguard.conf")
        try Self.configuration(directory: directory, classifier: classifier, settings: settings)
            .write(to: configuration, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--foreground", "--config", configuration.path]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        environment.removeValue(forKey: "JOURNAL_STREAM")
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var logPath: String { directory.path + "/daemon.log" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var pid: pid_t { process.processIdentifier }

    /// Waits until the control socket reports a loaded classifier and the milter socket accepts connections.
    func waitUntilReady(timeout: Duration = .seconds(300)) throws -> StatsReport {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw ValidationFailure("spamguard exited (status \(process.terminationStatus)); its log:\n\(log)") }
            if let stats = try? stats(), FileManager.default.fileExists(atPath: milterSocket) {
                guard stats.classifier != nil else { throw ValidationFailure("spamguard runs without a classifier; its log:\n\(log)") }
                if (try? MilterConnection(socketPath: milterSocket, timeoutSeconds: 5)) != nil { return stats }
            }
            usleep(100_000)
        }
        throw ValidationFailure("spamguard was not ready after \(timeout); its log:\n\(log)")
    }

    func stats() throws -> StatsReport {
        try ControlClient(socketPath: controlSocket).request(.stats, expecting: StatsReport.self)
    }

    /// User + system CPU seconds the daemon has used so far (/proc/PID/stat).
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After "pid (comm)": state is field 3, utime 14, stime 15 → indices 11 and 12 here.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// SIGTERM, then SIGKILL after `timeout`.
    func stop(timeout: Duration = .seconds(30)) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning, ContinuousClock.now < deadline { usleep(50_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
