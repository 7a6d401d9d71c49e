#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a request to the daemon got no answer, or a refusal.
public enum ControlClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing at the socket path (the daemon is not running, or the path is wrong).
    case socketMissing(path: String)
    /// A socket file but nobody listening: the daemon is not running (it left the file behind).
    case notRunning(path: String)
    /// The socket's permissions keep this user out.
    case permissionDenied(path: String)
    /// Any other failure to reach the socket.
    case unreachable(path: String, reason: String)
    /// No answer within the timeout.
    case timedOut(seconds: Double)
    /// The connection broke or closed before a whole answer came.
    case connectionLost(String)
    /// The answer was not a response of this protocol.
    case malformedResponse(String)
    /// The daemon answered with an error.
    case refused(ControlFailure)

    public var description: String {
        switch self {
        case .socketMissing(let path): "no control socket at \(path): is spamguard running? (systemctl status spamguard)"
        case .notRunning(let path): "spamguard is not running (nothing listens on \(path))"
        case .permissionDenied(let path): "permission denied on \(path): run as root, as the daemon's user, or as a member of its group"
        case .unreachable(let path, let reason): "cannot connect to \(path): \(reason)"
        case .timedOut(let seconds): "spamguard did not answer within \(seconds) s"
        case .connectionLost(let reason): "the connection to spamguard broke: \(reason)"
        case .malformedResponse(let reason): "spamguard's answer is not understood: \(reason)"
        case .refused(let failure): failure.message
        }
    }
}

/// A blocking client for one request at a time: connect, write a line, read a line. For `spamguardctl`.
public final class ControlClient {
    public let socketPath: String
    private let descriptor: Int32
    private var lines = LineBuffer()
    private var nextID: Int64 = 1

    /// Connects to the daemon's control socket.
    public init(socketPath: String) throws(ControlClientError) {
        self.socketPath = socketPath
        guard let address = sockaddr_un(path: socketPath) else {
            throw .unreachable(path: socketPath, reason: "the path is longer than \(sockaddr_un.maxPathLength) bytes")
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .unreachable(path: socketPath, reason: Self.errorText(errno)) }
        let status = address.withSocketAddress { connect(descriptor, $0, $1) }
        if status != 0 {
            let error = errno
            close(descriptor)
            switch error {
            case ENOENT, ENOTDIR: throw .socketMissing(path: socketPath)
            case ECONNREFUSED: throw .notRunning(path: socketPath)
            case EACCES, EPERM: throw .permissionDenied(path: socketPath)
            default: throw .unreachable(path: socketPath, reason: Self.errorText(error))
            }
        }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Sends `operation` (with `arguments`, for the operations that take some) and waits up to `timeout` for
    /// its result.
    /// - Throws: `.refused` when the daemon answers with an error; the other cases when it does not answer.
    public func request<Result: Codable & Sendable>(
        _ operation: ControlOperation, arguments: ControlArguments? = nil, expecting: Result.Type, timeout: Duration = .seconds(10)
    ) throws(ControlClientError) -> Result {
        let id = RequestID.number(nextID)
        nextID += 1
        let line: [UInt8]
        do {
            line = try ControlCoding.line(ControlRequest(operation, id: id, args: arguments))
        } catch {
            throw .malformedResponse("cannot encode the request: \(error)")
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        try write(line, deadline: deadline, timeout: timeout)
        let answer = try readLine(deadline: deadline, timeout: timeout)

        let response: ControlResponse<Result>
        do {
            response = try ControlCoding.decode(ControlResponse<Result>.self, from: answer)
        } catch {
            throw .malformedResponse("\(error)")
        }
        guard response.id == id else {
            throw .malformedResponse("the answer is for request \(response.id.map(\.description) ?? "none"), not \(id)")
        }
        if let error = response.error, !response.ok { throw .refused(error) }
        guard response.ok, let result = response.result else { throw .malformedResponse("ok without a result") }
        return result
    }

    /// Writes raw bytes as they are (tests use it to send what a well-behaved client would not).
    public func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant, timeout: Duration) throws(ControlClientError) {
        var offset = 0
        while offset < bytes.count {
            try waitFor(Int16(POLLOUT), deadline: deadline, timeout: timeout)
            let written = bytes.withUnsafeBytes {
                send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .connectionLost(Self.errorText(errno))
            }
            offset += written
        }
    }

    /// Reads up to the next newline.
    public func readLine(deadline: ContinuousClock.Instant, timeout: Duration) throws(ControlClientError) -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            do {
                if let line = try lines.nextLine() { return Array(line) }
            } catch {
                throw .malformedResponse("\(error)")
            }
            try waitFor(Int16(POLLIN), deadline: deadline, timeout: timeout)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .connectionLost(Self.errorText(errno))
            }
            if count == 0 { throw .connectionLost("spamguard closed the connection without an answer") }
            lines.append(chunk[..<count])
        }
    }

    private func waitFor(_ events: Int16, deadline: ContinuousClock.Instant, timeout: Duration) throws(ControlClientError) {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw .timedOut(seconds: timeout.inSeconds) }
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready < 0, errno == EINTR { continue }
            if ready < 0 { throw .connectionLost(Self.errorText(errno)) }
            if ready > 0 { return }
        }
    }

    private static func errorText(_ error: Int32) -> String {
        String(cString: strerror(error))
    }
}
