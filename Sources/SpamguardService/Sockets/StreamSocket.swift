import Atomics
import CLinux
import ControlProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who is at the other end of a Unix socket (`SO_PEERCRED`: the peer's credentials when it connected).
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}

/// One accepted, non-blocking stream connection; reads and writes suspend on the `SocketReactor`.
/// Used by one task at a time. Closed by `close()` or, at the latest, when released.
final class StreamConnection: Sendable {
    let descriptor: Int32
    private let reactor: SocketReactor
    private let closed = ManagedAtomic(false)

    init(descriptor: Int32, reactor: SocketReactor) {
        self.descriptor = descriptor
        self.reactor = reactor
    }

    deinit {
        close()
    }

    /// The peer of a Unix socket; nil for other families or on failure.
    var peerCredentials: PeerCredentials? {
        var credentials = spamguard_peer_credentials()
        var length = socklen_t(MemoryLayout<spamguard_peer_credentials>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
    }

    /// Reads what is there, up to `buffer.count` bytes, waiting until `deadline` for something; 0 at end of stream.
    func read(into buffer: inout [UInt8], until deadline: ContinuousClock.Instant) async throws -> Int {
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN: try await reactor.wait(for: .readable, on: descriptor, until: deadline)
            case let error: throw SystemError(errno: error)
            }
        }
    }

    /// Writes all of `bytes`, waiting until `deadline` for room. Never raises SIGPIPE.
    func write(_ bytes: [UInt8], until deadline: ContinuousClock.Instant) async throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if count >= 0 {
                offset += count
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN: try await reactor.wait(for: .writable, on: descriptor, until: deadline)
            case let error: throw SystemError(errno: error)
            }
        }
    }

    /// Idempotent.
    func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        _ = Glibc.close(descriptor)
    }
}

/// A listening, non-blocking stream socket; `accept()` suspends on the `SocketReactor`.
final class ListeningSocket: Sendable {
    /// What it listens on, for log lines.
    let name: String
    private let descriptor: Int32
    private let reactor: SocketReactor
    /// The Unix socket file to remove on close, with its inode (removed only if still ours).
    private let unixPath: (path: String, inode: ino_t)?
    private let closed = ManagedAtomic(false)

    private init(name: String, descriptor: Int32, reactor: SocketReactor, unixPath: (path: String, inode: ino_t)?) {
        self.name = name
        self.descriptor = descriptor
        self.reactor = reactor
        self.unixPath = unixPath
    }

    deinit {
        close()
    }

    /// Listens on the Unix socket `path` with file mode `mode`. A socket file left by a process that is gone
    /// is replaced; a live one (another daemon answers) or a file that is not a socket is an error.
    static func unix(path: String, mode: mode_t, reactor: SocketReactor) throws(SocketSetupError) -> ListeningSocket {
        guard let address = sockaddr_un(path: path) else {
            throw SocketSetupError(path, "the path is longer than \(sockaddr_un.maxPathLength) bytes")
        }
        try removeStaleSocket(at: path, address: address)

        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SocketSetupError(path, "socket: \(SystemError(errno: errno))") }
        guard address.withSocketAddress({ bind(descriptor, $0, $1) }) == 0 else {
            let error = SystemError(errno: errno)
            _ = Glibc.close(descriptor)
            throw SocketSetupError(path, "bind: \(error)")
        }
        var status = stat()
        guard chmod(path, mode) == 0, lstat(path, &status) == 0, listen(descriptor, 64) == 0 else {
            let error = SystemError(errno: errno)
            _ = Glibc.close(descriptor)
            _ = unlink(path)
            throw SocketSetupError(path, "\(error)")
        }
        return ListeningSocket(name: path, descriptor: descriptor, reactor: reactor, unixPath: (path, status.st_ino))
    }

    /// Listens on TCP `host:port` (`127.0.0.1:9733`, `[::1]:9733`, `localhost:9733`).
    static func tcp(_ endpoint: String, reactor: SocketReactor) throws(SocketSetupError) -> ListeningSocket {
        guard let (host, port) = HostAndPort.split(endpoint) else {
            throw SocketSetupError(endpoint, "expected HOST:PORT")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let first = found else {
            throw SocketSetupError(endpoint, "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }

        let descriptor = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SocketSetupError(endpoint, "socket: \(SystemError(errno: errno))") }
        var on: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(descriptor, 64) == 0 else {
            let error = SystemError(errno: errno)
            _ = Glibc.close(descriptor)
            throw SocketSetupError(endpoint, "\(error)")
        }
        return ListeningSocket(name: endpoint, descriptor: descriptor, reactor: reactor, unixPath: nil)
    }

    /// The next connection. Throws `CancellationError` when the calling task is cancelled.
    func accept() async throws -> StreamConnection {
        while true {
            let connection = Glibc.accept(descriptor, nil, nil)
            if connection >= 0 {
                // accept4 is GNU-only in Glibc's module; an accepted socket inherits neither flag, so set both.
                _ = fcntl(connection, F_SETFL, fcntl(connection, F_GETFL) | O_NONBLOCK)
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                return StreamConnection(descriptor: connection, reactor: reactor)
            }
            switch errno {
            case EINTR, ECONNABORTED: continue
            case EAGAIN: try await reactor.wait(for: .readable, on: descriptor)
            case let error: throw SystemError(errno: error)
            }
        }
    }

    /// Stops listening and removes the socket file (if it is still the one this socket made). Idempotent.
    func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        _ = Glibc.close(descriptor)
        if let (path, inode) = unixPath {
            var status = stat()
            if lstat(path, &status) == 0, status.st_ino == inode { _ = unlink(path) }
        }
    }

    private static func removeStaleSocket(at path: String, address: sockaddr_un) throws(SocketSetupError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else { throw SocketSetupError(path, "exists and is not a socket; not touching it") }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return }
        defer { _ = Glibc.close(probe) }
        if address.withSocketAddress({ connect(probe, $0, $1) }) == 0 { throw SocketSetupError(path, "another process is listening on it (is spamguard already running?)") }
        _ = unlink(path)
    }
}

/// `HOST:PORT` with an IPv6 host in brackets.
enum HostAndPort {
    static func split(_ text: String) -> (host: String, port: UInt16)? {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let number = UInt16(port), number > 0 else { return nil }
        return (String(host), number)
    }
}

/// A socket that could not be set up, with what it was for.
public struct SocketSetupError: Error, CustomStringConvertible, Equatable {
    public var endpoint: String
    public var reason: String

    init(_ endpoint: String, _ reason: String) {
        self.endpoint = endpoint
        self.reason = reason
    }

    public var description: String { "\(endpoint): \(reason)" }
}
