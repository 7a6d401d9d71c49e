import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built executables, next to the test bundle (`swift build` / `swift test` build them).
enum Executables {
    static var directory: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }

    static func path(_ name: String) throws -> String {
        let path = directory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure("no \(name) next to the test bundle (\(path)); run `swift build` first")
        }
        return path
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs a command to its end; returns its exit status and standard output (standard error goes to `log`).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], log: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        if let log {
            FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// A real `spamguard` daemon process in the foreground, its log (standard error) in a file; optionally under
/// `strace`, which kills it with SIGKILL at the first matching system call on a path — a `kill -9` at an exact
/// point of its work.
final class DaemonProcess {
    let process = Process()
    let log: String

    struct KillPoint {
        /// The path the system call touches.
        var path: String
        /// System calls, e.g. the rename family.
        var calls = "rename,renameat,renameat2"
    }

    init(config: String, log: String, killAt point: KillPoint? = nil) throws {
        self.log = log
        let daemon = try Executables.path("spamguard")
        if let point {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
            process.arguments = ["-f", "-qq", "-o", "/dev/null", "-P", point.path, "-e", "trace=\(point.calls)",
                                 "-e", "inject=\(point.calls):signal=KILL", daemon, "--foreground", "--config", config]
        } else {
            process.executableURL = URL(fileURLWithPath: daemon)
            process.arguments = ["--foreground", "--config", config]
        }
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try handle.seekToEnd()
        process.standardError = handle
        process.standardOutput = handle
        try Self.startNiced(process)
    }

    /// Starts `process` from a thread at nice 19, which it inherits: the daemon's few seconds of work then
    /// leave the CPU to the timing-sensitive tests that run beside this suite.
    static func startNiced(_ process: Process) throws {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        nonisolated(unsafe) let process = process
        Thread.detachNewThread {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            do { try process.run() } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
    }

    var text: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Waits up to `seconds` for a log line containing `needle`.
    func waitForLog(_ needle: String, seconds: Double = 90) async -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            if text.contains(needle) { return true }
            if !process.isRunning { return text.contains(needle) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Waits up to `seconds` for the process to end; true if it did.
    func waitForExit(seconds: Double = 30) async -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return !process.isRunning
    }

    /// Whether it ended by SIGKILL.
    var wasKilled: Bool {
        !process.isRunning && process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    }

    /// Attaches `strace` to the running daemon (every thread) to SIGKILL it at the first system call in
    /// `point.calls` on `point.path` — for paths that name the daemon's process id. Returns once attached.
    func killAt(_ point: KillPoint) async throws {
        let pid = daemonPID
        let tracer = Process()
        tracer.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
        tracer.arguments = ["-f", "-qq", "-o", "/dev/null", "-p", "\(pid)", "-P", point.path, "-e", "trace=\(point.calls)",
                            "-e", "inject=\(point.calls):signal=KILL"]
        tracer.standardError = FileHandle.nullDevice
        try Self.startNiced(tracer)
        tracers.append(tracer)
        let deadline = Date(timeIntervalSinceNow: 10)
        while Date() < deadline {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("TracerPid:") }),
               line.split(separator: "\t").last.map({ $0.trimmingCharacters(in: .whitespaces) }) != "0" { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw Executables.Failure("strace did not attach to \(pid)")
    }

    private var tracers: [Process] = []

    /// SIGKILL to the daemon (and to strace and the daemon under it).
    func kill9() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        for child in Self.children(of: pid) { Glibc.kill(child, SIGKILL) }
        Glibc.kill(pid, SIGKILL)
    }

    /// The daemon's process id: strace's child when traced.
    var daemonPID: Int32 {
        process.executableURL?.lastPathComponent == "strace" ? Self.children(of: process.processIdentifier).first ?? -1 : process.processIdentifier
    }

    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Int32($0) }
        }
    }

    /// SIGTERM, then the exit status (SIGKILL after `seconds`).
    @discardableResult
    func stop(seconds: Double = 30) async -> Int32 {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGTERM) }
        if await !waitForExit(seconds: seconds) {
            kill9()
            _ = await waitForExit()
        }
        return process.terminationStatus
    }

    deinit {
        kill9()
        for tracer in tracers where tracer.isRunning { Glibc.kill(tracer.processIdentifier, SIGKILL) }
    }
}
