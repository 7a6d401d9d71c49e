import Atomics
import CMilter
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum MilterError: Error, CustomStringConvertible {
    case setup(String)
    case mainLoopFailed

    public var description: String {
        switch self {
        case .setup(let what): "libmilter set-up failed: \(what)"
        case .mainLoopFailed: "libmilter's main loop failed (see the log lines before this one)"
        }
    }
}

/// Runs libmilter: opens the socket, then `smfi_main` on a thread of its own (it blocks for the daemon's
/// life, so it must not occupy a thread of Swift's cooperative pool).
///
/// `run()` returns when libmilter stops — on SIGTERM/SIGINT (libmilter's own signal thread), or when the
/// service group shuts down gracefully (`smfi_stop`) — after the messages already at end-of-message have
/// had their answer, bounded by `timeout_seconds`. Give it `.gracefullyShutdownGroup` as its success
/// termination behaviour so that the rest of the daemon stops with it.
public final class MilterService: Service, Sendable {
    private let configuration: Configuration.Milter
    private let filter: MessageFilter
    private let logger: Logger
    private let onListening: @Sendable () -> Void
    private let onStopping: @Sendable () -> Void
    private let stopRequested = ManagedAtomic(false)

    /// There is one libmilter per process, so there may be one `MilterService` per process.
    /// - Parameters:
    ///   - onListening: called once the socket accepts connections (systemd: READY=1).
    ///   - onStopping: called when libmilter has stopped accepting connections (systemd: STOPPING=1).
    public init(
        configuration: Configuration.Milter, filter: MessageFilter, logger: Logger,
        onListening: @escaping @Sendable () -> Void, onStopping: @escaping @Sendable () -> Void
    ) {
        self.configuration = configuration
        self.filter = filter
        self.logger = logger
        self.onListening = onListening
        self.onStopping = onStopping
        MilterBridge.install(filter, logger: logger)
    }

    public func run() async throws {
        try openSocket()
        logger.info("listening on \(configuration.listen)")
        onListening()

        let result: Int32 = await withGracefulShutdownHandler {
            await withCheckedContinuation { continuation in
                OSThread { continuation.resume(returning: smfi_main()) }.detach()
            }
        } onGracefulShutdown: { [stopRequested] in
            stopRequested.store(true, ordering: .releasing)
            _ = smfi_stop()
        }

        removeSocketFile()
        let cause = stopRequested.load(ordering: .acquiring) ? "shutdown requested" : "libmilter stopped (SIGTERM or SIGINT)"
        logger.notice("milter stopped accepting connections: \(cause); \(filter.messagesInFlight) message(s) at end-of-message")
        onStopping()
        await drain()
        guard result == MI_SUCCESS else { throw MilterError.mainLoopFailed }
    }

    private func openSocket() throws {
        guard MilterBridge.register(name: "spamguard") else { throw MilterError.setup("smfi_register refused the filter") }
        let listen = strdup(configuration.listen)
        defer { free(listen) }
        guard smfi_setconn(listen) == MI_SUCCESS else { throw MilterError.setup("smfi_setconn(\(configuration.listen))") }
        guard smfi_settimeout(Int32(configuration.timeoutSeconds)) == MI_SUCCESS else {
            throw MilterError.setup("smfi_settimeout(\(configuration.timeoutSeconds))")
        }
        guard smfi_opensocket(1) == MI_SUCCESS else {  // 1: remove a stale socket file first
            throw MilterError.setup("cannot listen on \(configuration.listen) (in use, or no permission for the path?)")
        }
        if let path = unixSocketPath, chmod(path, configuration.socketMode) != 0 {
            throw MilterError.setup("chmod \(String(configuration.socketMode, radix: 8)) \(path): \(SystemError(errno: errno))")
        }
    }

    private var unixSocketPath: String? {
        for prefix in ["unix:", "local:"] where configuration.listen.hasPrefix(prefix) {
            return String(configuration.listen.dropFirst(prefix.count))
        }
        return nil
    }

    /// libmilter unlinks its unix socket on stop, but not when running as root; then we do.
    private func removeSocketFile() {
        guard let path = unixSocketPath else { return }
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { _ = unlink(path) }
    }

    /// Waits until no message is at end-of-message any more, at most `timeout_seconds`.
    private func drain() async {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(configuration.timeoutSeconds))
        while filter.messagesInFlight > 0, clock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
        }
        if filter.messagesInFlight > 0 {
            logger.warning("\(filter.messagesInFlight) message(s) still at end-of-message after \(configuration.timeoutSeconds) s; stopping anyway")
        }
    }
}
