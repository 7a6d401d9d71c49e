import ControlProtocol
import Logging
import ServiceLifecycle

/// The control socket (`[control] socket`): a Unix socket, mode 0660, speaking JSON lines
/// (docs/control-protocol.md). Each connection is served by a child task of `run()`; a connection may send
/// many requests, one line each, and gets one response line per request, in order.
///
/// A connection that sends a line longer than `maxLineBytes` (`maxPrivilegedLineBytes` from root and the daemon's
/// user, whose `learn` carries whole messages), or no complete line within `requestTimeout`,
/// gets an error line and is closed; nothing it sends reaches beyond its own task. All connections together
/// get at most `requestsPerSecond` answers (after a burst), so no flood of requests takes more than a small
/// share of a core from the mail.
public struct ControlServer: Service {
    public struct Limits: Sendable {
        public var maxLineBytes = ControlProtocol.maxLineBytes
        /// The same for root and the daemon's user.
        public var maxPrivilegedLineBytes = ControlProtocol.maxPrivilegedLineBytes
        /// From the moment the daemon waits for a request until the request's newline has arrived.
        public var requestTimeout: Duration = .seconds(10)
        public var maxConnections = 32
        /// Answers per second over all connections, after a burst of `burst`; requests over it wait their turn.
        public var requestsPerSecond = 200
        public var burst = 50

        public init() {}
    }

    let socketPath: String
    let responder: ControlResponder
    let reactor: SocketReactor
    let limits: Limits
    let logger: Logger

    init(socketPath: String, responder: ControlResponder, reactor: SocketReactor, limits: Limits = Limits(), logger: Logger) {
        self.socketPath = socketPath
        self.responder = responder
        self.reactor = reactor
        self.limits = limits
        self.logger = logger
    }

    public func run() async throws {
        let listener: ListeningSocket
        do {
            listener = try ListeningSocket.unix(path: socketPath, mode: 0o660, reactor: reactor)
        } catch {
            logger.critical("control socket: \(error)")
            throw error
        }
        defer { listener.close() }
        logger.info("control socket listening on \(socketPath)")
        let (responder, limits, logger) = (self.responder, self.limits, self.logger)
        let pacer = RequestPacer(perSecond: limits.requestsPerSecond, burst: limits.burst)
        let oversized = LogThrottle()
        await cancelWhenGracefulShutdown {
            await acceptConnections(on: listener, maxConnections: limits.maxConnections, logger: logger) { connection in
                await ControlSession(
                    connection: connection, responder: responder, limits: limits, pacer: pacer, oversizedLog: oversized, logger: logger
                ).run()
            }
        }
    }
}

/// One control connection: request lines in, response lines out, until the peer closes, misbehaves or
/// the daemon stops.
struct ControlSession {
    let connection: StreamConnection
    let responder: ControlResponder
    let limits: ControlServer.Limits
    let pacer: RequestPacer
    let oversizedLog: LogThrottle
    let logger: Logger

    func run() async {
        let peer = connection.peerCredentials
        let maxLineBytes = responder.isPrivileged(peer) ? max(limits.maxLineBytes, limits.maxPrivilegedLineBytes) : limits.maxLineBytes
        var lines = LineBuffer(limit: maxLineBytes)
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let deadline = ContinuousClock.now.advanced(by: limits.requestTimeout)
            let line: ArraySlice<UInt8>
            do {
                guard let next = try await nextLine(&lines, chunk: &chunk, until: deadline) else { return }
                line = next
            } catch is LineBuffer.LineTooLong {
                if let heldBack = oversizedLog.admit() {
                    logger.warning("control: request over \(maxLineBytes) bytes from \(peer.map { "\($0)" } ?? "unknown peer"); closing\(LogThrottle.suffix(heldBack))")
                }
                await sendAndClose(ControlFailure(.tooLarge, "a request line may be at most \(maxLineBytes) bytes"))
                return
            } catch is SocketReactor.TimedOut {
                logger.debug("control: no complete request within \(limits.requestTimeout); closing")
                await sendAndClose(ControlFailure(.timeout, "no complete request line within \(limits.requestTimeout)"))
                return
            } catch {
                return  // cancelled (the daemon is stopping), or the peer reset the connection
            }
            if line.isEmpty { continue }
            do {
                try await pacer.admit()
            } catch {
                return  // the daemon is stopping
            }
            let response = await responder.respond(to: line, from: peer)
            do {
                try await connection.write(response, until: ContinuousClock.now.advanced(by: limits.requestTimeout))
            } catch {
                return
            }
        }
    }

    /// The next line; nil when the peer closed (a half-sent line is dropped with the connection).
    private func nextLine(
        _ lines: inout LineBuffer, chunk: inout [UInt8], until deadline: ContinuousClock.Instant
    ) async throws -> ArraySlice<UInt8>? {
        while true {
            if let line = try lines.nextLine() { return line }
            let count = try await connection.read(into: &chunk, until: deadline)
            if count == 0 { return nil }
            lines.append(chunk[..<count])
        }
    }

    private func sendAndClose(_ failure: ControlFailure) async {
        let line = ControlResponder.line(failure: failure, id: nil)
        try? await connection.write(line, until: ContinuousClock.now.advanced(by: .seconds(1)))
        connection.close()
    }
}
