import Foundation

/// The real `spamguard` binary, started in the foreground on a scratch directory with its own configuration,
/// its stderr in `daemon.log`, and a `NotifyListener` as its systemd.
final class DaemonProcess: @unchecked Sendable {
    let scratch: Scratch
    let socket: String
    let configurationPath: String
    let notify: NotifyListener
    private let process = Process()

    var pid: Int32 { process.processIdentifier }
    var log: String { scratch.read("daemon.log") }
    var isRunning: Bool { process.isRunning }

    /// The configuration the tests start from; `milter` adds keys to `[milter]`, `extra` is appended.
    static func configuration(in scratch: Scratch, milter: String = "", extra: String = "") -> String {
        """
        [milter]
        listen = "unix:\(scratch.file("milter.sock"))"
        timeout_seconds = 10
        \(milter)
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

    /// Starts the daemon and waits for READY=1.
    init(scratch: Scratch, configuration: String, environment extra: [String: String] = [:], waitForReady: Bool = true) async throws {
        self.scratch = scratch
        self.socket = "unix:\(scratch.file("milter.sock"))"
        self.configurationPath = try scratch.write("spamguard.conf", configuration)
        self.notify = try NotifyListener(path: scratch.file("notify.sock"))
        process.executableURL = URL(fileURLWithPath: Products.path("spamguard"))
        process.arguments = ["--foreground", "--config", configurationPath]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        environment.removeValue(forKey: "JOURNAL_STREAM")
        environment.merge(extra) { $1 }
        process.environment = environment
        _ = FileManager.default.createFile(atPath: scratch.file("daemon.log"), contents: nil)
        let log = FileHandle(forWritingAtPath: scratch.file("daemon.log"))!
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        if waitForReady {
            guard await notify.waitFor("READY=1") != nil else {
                kill(pid, SIGKILL)
                throw HarnessError("spamguard did not become ready; its log:\n\(self.log)")
            }
        }
    }

    /// A test that ends early (a thrown error) must not leave its daemon behind.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        notify.stop()
    }

    func signal(_ number: Int32) {
        kill(pid, number)
    }

    /// Waits for the process to end; nil if it is still running after `timeout`.
    func waitForExit(timeout: Duration = .seconds(20)) async -> Int32? {
        guard await eventually(timeout: timeout, { !process.isRunning }) else { return nil }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// SIGTERM, then the exit status (128 + signal if a signal killed it). Kills it if it will not stop.
    @discardableResult
    func stop(timeout: Duration = .seconds(20)) async -> Int32? {
        defer { notify.stop() }
        guard process.isRunning else { return await waitForExit() }
        signal(SIGTERM)
        if let status = await waitForExit(timeout: timeout) { return status }
        signal(SIGKILL)
        _ = await waitForExit()
        return nil
    }

    /// Lines of the log containing all of `words`.
    func logLines(containing words: String...) -> [String] {
        log.split(separator: "\n").map(String.init).filter { line in words.allSatisfy { line.contains($0) } }
    }
}
