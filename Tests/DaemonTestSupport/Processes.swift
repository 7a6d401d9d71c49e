import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a finished program printed, and how it ended.
public struct ProcessRun: Sendable {
    public var status: Int32
    public var output: String
    /// Standard error, unless it went into `output`.
    public var errors: String
    public var succeeded: Bool { status == 0 }
}

/// Runs a program to its end without blocking a thread: its output goes to temporary files, its exit arrives
/// through `terminationHandler`.
/// - `prefix` runs the program through another one (setpriv, to change the user).
/// - `mergingErrors` sends standard error into `output` too, the two interleaved as written.
/// - `niceness` starts the program from a thread of its own at that nice value, which the program inherits.
public func runProcess(
    _ executable: String, _ arguments: [String], prefix: [String] = [], environment: [String: String]? = nil,
    mergingErrors: Bool = false, niceness: Int32? = nil
) async throws -> ProcessRun {
    let stem = "/tmp/sg-run.\(UUID().uuidString)"
    let suffixes = mergingErrors ? [".out"] : [".out", ".err"]
    defer { for suffix in suffixes { try? FileManager.default.removeItem(atPath: stem + suffix) } }
    for suffix in suffixes { _ = FileManager.default.createFile(atPath: stem + suffix, contents: nil) }
    let output = FileHandle(forWritingAtPath: stem + ".out")!
    let errors = mergingErrors ? output : FileHandle(forWritingAtPath: stem + ".err")!
    let process = Process()
    process.executableURL = URL(fileURLWithPath: prefix.first ?? executable)
    process.arguments = prefix.isEmpty ? arguments : Array(prefix.dropFirst()) + [executable] + arguments
    if let environment { process.environment = environment }
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        let start: @Sendable () -> Void = {
            if let niceness { setThreadNiceness(niceness) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        if niceness == nil { start() } else { Thread.detachNewThread(start) }
    }
    try? output.close()
    if !mergingErrors { try? errors.close() }
    func read(_ suffix: String) -> String { (try? String(contentsOfFile: stem + suffix, encoding: .utf8)) ?? "" }
    return ProcessRun(status: status, output: read(".out"), errors: mergingErrors ? "" : read(".err"))
}

/// posix_spawn with an empty signal mask and default dispositions for every signal (what systemd gives a
/// service), stdin from /dev/null, stdout and stderr appended to `output`. With a `niceness`, spawned from a
/// thread of its own at that nice value, which the process inherits. Reap it with `waitpid` (`ExitStatus`).
public func spawnLikeSystemd(
    _ executable: String, _ arguments: [String], environment: [String: String], output: String, niceness: Int32? = nil
) throws -> pid_t {
    guard let niceness else { return try spawn(executable, arguments, environment: environment, output: output) }
    nonisolated(unsafe) var result: Result<pid_t, any Error> = .failure(HarnessError("not spawned"))
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        setThreadNiceness(niceness)
        result = Result { try spawn(executable, arguments, environment: environment, output: output) }
        done.signal()
    }
    done.wait()
    return try result.get()
}

private func spawn(_ executable: String, _ arguments: [String], environment: [String: String], output: String) throws -> pid_t {
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

/// A child's exit status as a shell shows it: the exit code, or 128 + the signal that ended it.
public enum ExitStatus {
    /// Reaps `pid` if it has ended (WNOHANG); its status, else nil.
    public static func poll(_ pid: pid_t) -> Int32? {
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }

    /// Waits for `pid` to end and reaps it.
    public static func reap(_ pid: pid_t) {
        var raw: Int32 = 0
        waitpid(pid, &raw, 0)
    }
}

/// The process ids of `pid`'s children (of every thread of it).
public func childProcesses(of pid: pid_t) -> [pid_t] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.flatMap { task in
        ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
            .split(separator: " ").compactMap { Int32($0) }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw HarnessError("socket: errno \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
    }
    guard bound else { throw HarnessError("cannot find a free port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func canConnect(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
