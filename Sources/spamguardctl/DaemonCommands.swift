import ArgumentParser
import ControlProtocol
import Foundation
import SpamguardService

/// Exit statuses of the commands that talk to the daemon (listed in `spamguardctl --help`).
enum DaemonExit {
    /// The daemon answered with an error (e.g. a reload was refused).
    static let refused = ExitCode(1)
    /// No usable answer: timeout, connection lost, or not this protocol.
    static let noAnswer = ExitCode(2)
    /// A socket file but nobody listening: the daemon is not running.
    static let notRunning = ExitCode(3)
    /// No socket at the path.
    static let socketMissing = ExitCode(4)
    /// The socket's permissions, or the daemon (for state changes), keep this user out.
    static let permissionDenied = ExitCode(5)
    /// The configuration file could not be read to find the socket.
    static let configurationUnreadable = ExitCode(78)

    static let summary = """
        Exit status of the commands that talk to the daemon: 0 the daemon answered; 1 it refused the request \
        (a reload with a bad configuration or model, a rollback to no such version; learn: a file was not \
        mail or could not be read); 2 no usable answer (timeout, broken connection); \
        3 the daemon is not running (nobody listens on the socket); 4 no socket at the path; \
        5 permission denied (socket permissions, or a state change asked by someone other than root or \
        the daemon's user); 78 the configuration file cannot be read to find the socket.
        """

    /// Prints one line saying what went wrong and returns the matching exit status.
    static func report(_ error: ControlClientError) -> ExitCode {
        warn(error.description)
        switch error {
        case .socketMissing: return socketMissing
        case .notRunning: return notRunning
        case .permissionDenied: return permissionDenied
        case .unreachable, .timedOut, .connectionLost, .malformedResponse: return noAnswer
        case .refused(let failure): return failure.code == .forbidden ? permissionDenied : refused
        }
    }
}

/// Where the daemon's control socket is: `--socket`, else `[control] socket` of the configuration file.
struct DaemonConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's control socket (default: [control] socket of the configuration).", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("The daemon's configuration file: where the socket is, and the daemon's files for the commands that work without it.", valueName: "path"))
    var config: String = Configuration.defaultPath

    @Option(help: ArgumentHelp("Seconds to wait for the answer.", valueName: "seconds"))
    var timeout: Double?

    func socketPath() throws -> String {
        if let socket { return socket }
        return try configuration(hint: " (give the socket with --socket)").controlSocket
    }

    /// Sends `operation` and returns its result, or exits with one line and the matching status.
    func request<Result: Codable & Sendable>(
        _ operation: ControlOperation, arguments: ControlArguments? = nil, expecting: Result.Type, defaultTimeout: Double = 10
    ) throws -> Result {
        let path = try socketPath()
        let wait = try timeout(default: defaultTimeout)
        do {
            let client = try ControlClient(socketPath: path)
            return try client.request(operation, arguments: arguments, expecting: Result.self, timeout: wait)
        } catch {
            throw DaemonExit.report(error)
        }
    }

    /// Runs `body` on a connection to the daemon, with the timeout for each request; nil when no daemon runs
    /// (no socket, or nobody listening on it), for the commands that then work on the files themselves. Any
    /// other failure exits with one line and the matching status.
    func ifRunning<T>(defaultTimeout: Double = 10, _ body: (ControlClient, Duration) throws(ControlClientError) -> T) throws -> T? {
        let path = try socketPath()
        let wait = try timeout(default: defaultTimeout)
        do {
            return try body(try ControlClient(socketPath: path), wait)
        } catch {
            switch error {
            case .socketMissing, .notRunning: return nil
            default: throw DaemonExit.report(error)
            }
        }
    }

    private func timeout(default seconds: Double) throws -> Duration {
        let seconds = timeout ?? seconds
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The configuration: where the socket is, and the daemon's files for the commands that work on them when it
    /// does not run.
    func configuration(hint: String = "") throws -> Configuration {
        // No file at the default path: the built-in defaults apply, as they do for the daemon.
        if config == Configuration.defaultPath, access(config, F_OK) != 0 { return Configuration() }
        do {
            return try Configuration.load(from: config)
        } catch {
            warn("\(error)\(hint)")
            throw DaemonExit.configurationUnreadable
        }
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Messages per outcome, latency percentiles, batch sizes, the classifier serving, memory, learning.",
        discussion: """
            Message counts survive restarts (they are saved in [state] dir) and say since when they count; \
            latency is since the daemon started and over the last five minutes. With the learning loop on: \
            corrections waiting, learned and rejected, the last training run (when, how long, on how many \
            examples, promoted or refused and why), whether training is paused, and the serving version's age. \
            --json prints the daemon's figures for scripts (rates and shares as fractions 0..1, times in \
            milliseconds or seconds as named).

            \(DaemonExit.summary)
            """
    )

    @OptionGroup var connection: DaemonConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let report = try connection.request(.stats, expecting: StatsReport.self)
        if json {
            print(String(decoding: try prettyJSON(report), as: UTF8.self))
        } else {
            print(StatsTable(report, now: Date()).text, terminator: "")
        }
    }
}

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the daemon re-read its configuration and classifier, without dropping connections.",
        discussion: """
            Messages in progress finish on the model they started with; the next ones use the new one. A \
            configuration or classifier that does not load is refused with the reason, and the running one \
            keeps serving. Only root and the daemon's user may reload.

            \(DaemonExit.summary)
            """
    )

    @OptionGroup var connection: DaemonConnectionOptions

    func run() throws {
        let result = try connection.request(.reload, expecting: ReloadResult.self, defaultTimeout: 300)
        let serving = result.modelVersion ?? "none"
        if result.previousModelVersion == result.modelVersion {
            print("reloaded: configuration re-read; classifier \(serving) (same version as before)")
        } else {
            print("reloaded: configuration re-read; classifier \(serving) (was \(result.previousModelVersion ?? "none"))")
        }
    }
}

struct PingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Check that the daemon answers (for scripts: see the exit status).",
        discussion: DaemonExit.summary
    )

    @OptionGroup var connection: DaemonConnectionOptions
    @Flag(name: .shortAndLong, help: "Print nothing; the exit status says it all.") var quiet = false

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try connection.request(.ping, expecting: PingResult.self)
        let elapsed = start.duration(to: clock.now)
        if !quiet {
            let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
            print("spamguard answers: pid \(result.pid), up \(duration(result.uptimeSeconds)), \(String(format: "%.1f", milliseconds)) ms")
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One line: running or not, the classifier serving, messages counted, uptime.",
        discussion: DaemonExit.summary
    )

    @OptionGroup var connection: DaemonConnectionOptions

    func run() throws {
        let status = try connection.request(.status, expecting: StatusResult.self)
        let model = status.modelVersion.map { "classifier \($0)" } ?? "no classifier loaded (mail passes unscanned)"
        print("spamguard is running: pid \(status.pid), up \(duration(status.uptimeSeconds)); \(model); "
            + "\(status.messages) messages since \(StatsTable.timestamp(status.since)); \(status.inFlight) in flight")
    }
}
