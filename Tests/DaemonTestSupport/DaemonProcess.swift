import ControlProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `spamguard` binary in the foreground on a scratch directory: its configuration there, its stdout and
/// stderr appended to a log file, its milter and control sockets (and, with `configuration(in:)`, its models and
/// state) there too. Started the way systemd starts a service — no signal blocked, every disposition default —
/// so that the daemon's own signal handling is what is tested; optionally niced, optionally under strace.
///
/// The ways the suites start it: `init(scratch:configuration:environment:waitForReady:)` as systemd does
/// (READY=1 through a `NotifyListener`), `answering(scratch:configuration:)` without systemd (ready once its
/// control socket answers), and the designated initializer, which waits for nothing (the learning tests wait
/// for log lines). A daemon still running when its object goes away is killed (`kill -9`), so that a test that
/// ends early (a thrown error) does not leave its daemon behind.
public final class DaemonProcess: @unchecked Sendable {
    public let scratch: Scratch
    public let configurationPath: String
    public let logPath: String
    /// systemd's side of sd_notify, when the daemon was started with one.
    public let notify: NotifyListener?
    /// The process started: the daemon, or strace with the daemon under it (see `daemonPID`).
    public let pid: pid_t
    /// How long `stop()` waits after SIGTERM, and again after SIGKILL.
    public let stopTimeout: Duration
    private let traced: Bool
    private let lock = NSLock()
    private var exitStatus: Int32?
    private var tracers: [pid_t] = []

    public var milterSocket: String { "unix:" + scratch.file("milter.sock") }
    public var controlSocket: String { scratch.file("control.sock") }
    /// Everything the daemon has logged so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    public var isRunning: Bool { status() == nil }

    /// A configuration on `scratch`: milter and control sockets, models under `base` and `classifier`, state in
    /// the directory itself (or `stateDirectory`); `milter` adds keys to `[milter]`, `extra` (TOML) is appended.
    public static func configuration(
        in scratch: Scratch, milter: String = "", milterTimeoutSeconds: Int? = 10, stateDirectory: String? = nil, extra: String = ""
    ) -> String {
        """
        [milter]
        listen = "unix:\(scratch.file("milter.sock"))"
        \(milterTimeoutSeconds.map { "timeout_seconds = \($0)" } ?? "")
        \(milter)
        [model]
        base = "\(scratch.file("base"))"
        classifier = "\(scratch.file("classifier"))"
        [control]
        socket = "\(scratch.file("control.sock"))"
        [state]
        dir = "\(stateDirectory ?? scratch.path)"
        \(extra)
        """
    }

    /// Where strace kills the daemon with SIGKILL: at the first of `calls` on `path` — a `kill -9` at an exact
    /// point of its work.
    public struct KillPoint: Sendable {
        /// The path the system call touches.
        public var path: String
        /// System calls, e.g. the rename family.
        public var calls: String

        public init(path: String, calls: String = "rename,renameat,renameat2") {
            self.path = path
            self.calls = calls
        }

        var straceArguments: [String] {
            ["-f", "-qq", "-o", "/dev/null", "-P", path, "-e", "trace=\(calls)", "-e", "inject=\(calls):signal=KILL"]
        }
    }

    /// Starts `spamguard --foreground --config configurationPath` and returns at once. `environment` is its whole
    /// environment; `niceness`, if given, is set on the thread that starts it (it inherits it); `killAt` runs it
    /// under strace, which kills it there.
    public init(
        scratch: Scratch, configurationPath: String, log: String, environment: [String: String], notify: NotifyListener? = nil,
        niceness: Int32? = nil, killAt point: KillPoint? = nil, stopTimeout: Duration = .seconds(20)
    ) throws {
        self.scratch = scratch
        self.configurationPath = configurationPath
        self.logPath = log
        self.notify = notify
        self.stopTimeout = stopTimeout
        let daemon = try Products.checkedPath("spamguard")
        let arguments = ["--foreground", "--config", configurationPath]
        traced = point != nil
        if let point {
            pid = try spawnLikeSystemd("/usr/bin/strace", point.straceArguments + [daemon] + arguments,
                                       environment: environment, output: log, niceness: niceness)
        } else {
            pid = try spawnLikeSystemd(daemon, arguments, environment: environment, output: log, niceness: niceness)
        }
    }

    /// Starts the daemon the way systemd starts a service — `$NOTIFY_SOCKET` naming a `NotifyListener`,
    /// `$JOURNAL_STREAM` unset unless `environment` sets it — on `configuration` (written to spamguard.conf),
    /// logging to daemon.log, and waits for READY=1.
    public convenience init(
        scratch: Scratch, configuration: String, environment extra: [String: String] = [:], waitForReady: Bool = true
    ) async throws {
        let configurationPath = try scratch.write("spamguard.conf", configuration)
        let notify = try NotifyListener(path: scratch.file("notify.sock"))
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        environment.removeValue(forKey: "JOURNAL_STREAM")
        environment.merge(extra) { $1 }
        try self.init(scratch: scratch, configurationPath: configurationPath, log: scratch.file("daemon.log"),
                      environment: environment, notify: notify)
        if waitForReady {
            guard await notify.waitFor("READY=1") != nil else {
                kill(pid, SIGKILL)
                throw HarnessError("spamguard did not become ready; its log:\n\(self.log)")
            }
        }
    }

    /// Starts the daemon without systemd (none of systemd's variables: nobody would listen) on `configuration`
    /// (written to spamguard.conf), logging to daemon.log, and waits until its control socket answers a ping.
    public static func answering(scratch: Scratch, configuration: String) async throws -> DaemonProcess {
        let configurationPath = try scratch.write("spamguard.conf", configuration)
        var environment = ProcessInfo.processInfo.environment
        for name in ["NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC"] { environment.removeValue(forKey: name) }
        let daemon = try DaemonProcess(scratch: scratch, configurationPath: configurationPath, log: scratch.file("daemon.log"),
                                       environment: environment)
        let controlSocket = daemon.controlSocket
        let answering = await eventually(timeout: .seconds(30)) {
            guard daemon.isRunning else { return true }
            return (try? await offPool { try ControlClient(socketPath: controlSocket).request(.ping, expecting: PingResult.self) }) != nil
        }
        guard answering, daemon.isRunning else {
            kill(daemon.pid, SIGKILL)
            throw HarnessError("spamguard did not come up; its log:\n\(daemon.log)")
        }
        return daemon
    }

    deinit {
        if status() == nil {
            kill9()
            ExitStatus.reap(pid)
        }
        for tracer in tracers {
            kill(tracer, SIGKILL)
            ExitStatus.reap(tracer)
        }
        notify?.stop()
    }

    /// The exit status once the process has ended (128 + signal if a signal ended it), else nil.
    public func status() -> Int32? {
        lock.withLock {
            if exitStatus == nil { exitStatus = ExitStatus.poll(pid) }
            return exitStatus
        }
    }

    /// Whether SIGKILL ended it.
    public var wasKilled: Bool { status() == 128 + SIGKILL }

    /// The daemon's process id: strace's child when traced.
    public var daemonPID: pid_t {
        traced ? childProcesses(of: pid).first ?? -1 : pid
    }

    public func signal(_ number: Int32) {
        kill(pid, number)
    }

    /// Rewrites the configuration (for the next reload or start).
    public func reconfigure(_ configuration: String) throws {
        try configuration.write(toFile: configurationPath, atomically: true, encoding: .utf8)
    }

    /// Waits for the process to end; its status, or nil if it is still running after `timeout`.
    public func waitForExit(timeout: Duration = .seconds(20)) async -> Int32? {
        guard await eventually(timeout: timeout, { status() != nil }) else { return nil }
        return status()
    }

    /// SIGTERM, then the exit status (128 + signal if a signal ended it). SIGKILL, and nil, if it has not ended
    /// after `timeout` (default `stopTimeout`).
    @discardableResult
    public func stop(timeout: Duration? = nil) async -> Int32? {
        defer { notify?.stop() }
        guard isRunning else { return await waitForExit() }
        signal(SIGTERM)
        if let status = await waitForExit(timeout: timeout ?? stopTimeout) { return status }
        kill9()
        _ = await waitForExit(timeout: stopTimeout)
        return nil
    }

    /// SIGKILL to the process and its children (strace's, the daemon under it): no clean shutdown.
    public func kill9() {
        guard isRunning else { return }
        for child in childProcesses(of: pid) { kill(child, SIGKILL) }
        kill(pid, SIGKILL)
    }

    /// `kill9()`, then waits for the end. Also the quick way to end a test whose subject is not shutdown:
    /// libmilter notices SIGTERM only at its next 5-second poll. The control socket file stays behind.
    public func crash() async {
        kill9()
        _ = await waitForExit(timeout: .seconds(10))
    }

    /// Attaches strace to the running daemon (every thread) to SIGKILL it at `point` — for paths that name the
    /// daemon's process id. Started at the lowest priority, as the learning tests' daemons are; returns once attached.
    public func killAt(_ point: KillPoint) async throws {
        let pid = daemonPID
        let tracer = try spawnLikeSystemd("/usr/bin/strace", point.straceArguments + ["-p", "\(pid)"],
                                          environment: ProcessInfo.processInfo.environment, output: "/dev/null", niceness: lowestPriority)
        lock.withLock { tracers.append(tracer) }
        let attached = await eventually(timeout: .seconds(10)) {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("TracerPid:") }) else { return false }
            return line.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespaces) } != "0"
        }
        guard attached else { throw HarnessError("strace did not attach to \(pid)") }
    }

    /// Lines of the log containing all of `words`.
    public func logLines(containing words: String...) -> [String] {
        log.split(separator: "\n").map(String.init).filter { line in words.allSatisfy { line.contains($0) } }
    }

    /// Waits up to `timeout` for a log line containing `needle`; false at once if the process ends without one.
    public func waitForLog(_ needle: String, timeout: Duration = .seconds(90)) async -> Bool {
        _ = await eventually(timeout: timeout) { log.contains(needle) || !isRunning }
        return log.contains(needle)
    }

    /// Runs the miltertest script `script` against this daemon's milter (`socket` defined for it).
    public func miltertest(_ script: String, _ defines: [String: String] = [:]) async throws -> ProcessRun {
        try await Miltertest.run(script, ["socket": milterSocket].merging(defines) { $1 })
    }
}
