import CSystemd

/// Talks to systemd's notification socket (`sd_notify`): READY=1, RELOADING=1, STATUS=, STOPPING=1, WATCHDOG=1.
/// Outside systemd (no `$NOTIFY_SOCKET`) every call is a no-op, as sd_notify itself is.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// True when started by systemd with `Type=notify` (`$NOTIFY_SOCKET` is set).
    public var isActive: Bool {
        environment("NOTIFY_SOCKET") != nil
    }

    /// The keep-alive interval systemd expects (`WatchdogSec=`), if the watchdog is on for this process.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    public func ready(status: String) { send(["READY=1", "STATUS=\(status)"]) }
    public func reloading(status: String) { send(["RELOADING=1", "STATUS=\(status)"]) }
    public func status(_ status: String) { send(["STATUS=\(status)"]) }
    public func stopping(status: String) { send(["STOPPING=1", "STATUS=\(status)"]) }
    public func watchdog() { send(["WATCHDOG=1"]) }

    private func send(_ assignments: [String]) {
        // One datagram; a newline inside a STATUS would start a new assignment, so none may pass.
        let message = assignments.map { $0.split(whereSeparator: \.isNewline).joined(separator: " ") }.joined(separator: "\n")
        _ = sd_notify(0, message)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}
