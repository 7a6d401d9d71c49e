import Foundation

/// The real `spamguard` binary, started in the foreground on a scratch directory with its own configuration,
/// its stderr in `daemon.log`, and a `NotifyListener` as its systemd.
final class DaemonProcess: @unchecked Sendable {
    let scratch: Scratch
    let socket: String
    let configurationPath: String
    let notify: NotifyListener
    let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    var log: String { scratch.read("daemon.log") }
    var isRunning: Bool { status() == nil }

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

    /// Starts the daemon the way systemd starts a service — no signal blocked, every disposition default,
    /// so the daemon's own signal handling is what is tested — and waits for READY=1.
    init(scratch: Scratch, configuration: String, environment extra: [String: String] = [:], waitForReady: Bool = true) async throws {
        self.scratch = scratch
        self.socket = "unix:\(scratch.file("milter.sock"))"
        self.configurationPath = try scratch.write("spamguard.conf", configuration)
        self.notify = try NotifyListener(path: scratch.file("notify.sock"))
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        environment.removeValue(forKey: "JOURNAL_STREAM")
        environment.merge(extra) { $1 }
        self.pid = try spawnLikeSystemd(
            Products.path("spamguard"), ["--foreground", "--config", configurationPath],
            environment: environment, output: scratch.file("daemon.log")
        )
        if waitForReady {
            guard await notify.waitFor("READY=1") != nil else {
                kill(pid, SIGKILL)
                throw HarnessError("spamguard did not become ready; its log:\n\(self.log)")
            }
        }
    }

    /// The exit status once the process has ended (128 + signal if a signal ended it), else nil.
    private func status() -> Int32? {
        lock.withLock {
            if let exitStatus { return exitStatus }
            var raw: Int32 = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
            let signal = raw & 0x7f
            exitStatus = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
            return exitStatus
        }
    }

    /// A test that ends early (a thrown error) must not leave its daemon behind.
    deinit {
        if status() == nil {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            waitpid(pid, &raw, 0)
        }
        notify.stop()
    }

    func signal(_ number: Int32) {
        kill(pid, number)
    }

    /// Waits for the process to end; nil if it is still running after `timeout`.
    func waitForExit(timeout: Duration = .seconds(20)) async -> Int32? {
        guard await eventually(timeout: timeout, { status() != nil }) else { return nil }
        return status()
    }

    /// SIGTERM, then the exit status (128 + signal if a signal killed it). Kills it if it will not stop.
    @discardableResult
    func stop(timeout: Duration = .seconds(20)) async -> Int32? {
        defer { notify.stop() }
        guard isRunning else { return await waitForExit() }
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

/// posix_spawn with an empty signal mask and default dispositions for every signal (what systemd gives a
/// service), stdin from /dev/null, stdout and stderr appended to `output`.
func spawnLikeSystemd(_ executable: String, _ arguments: [String], environment: [String: String], output: String) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid = pid_t()
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard result == 0 else { throw HarnessError("posix_spawn \(executable): \(result)") }
    return pid
}
