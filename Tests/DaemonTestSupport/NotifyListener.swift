import Foundation

/// Plays systemd's side of sd_notify: a datagram socket the daemon finds in `$NOTIFY_SOCKET`, read
/// continuously (as systemd does: a full socket queue would block the daemon's sd_notify calls).
public final class NotifyListener: @unchecked Sendable {
    public let path: String
    private let descriptor: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var stopped = false

    public init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind \(path): errno \(errno)") }
        Thread.detachNewThread { [self] in readUntilStopped() }
    }

    private func readUntilStopped() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !lock.withLock({ stopped }) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { continue }
            let message = String(decoding: buffer[..<count], as: UTF8.self)
            lock.withLock { received.append(message) }
        }
        close(descriptor)
    }

    /// Stops reading and closes the socket.
    public func stop() {
        lock.withLock { stopped = true }
    }

    /// Everything received so far, one string per datagram.
    public var messages: [String] {
        lock.withLock { received }
    }

    /// Waits for a datagram containing the line `assignment` (e.g. "READY=1"); returns that datagram.
    public func waitFor(_ assignment: String, timeout: Duration = .seconds(30)) async -> String? {
        var found: String?
        _ = await eventually(timeout: timeout) {
            found = messages.first { $0.split(separator: "\n").contains(Substring(assignment)) }
            return found != nil
        }
        return found
    }
}
