#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Classic daemon start for running without a supervisor: leave the terminal and the session.
public enum Detach {
    /// Forks; the parent exits 0, the child becomes a session leader in `/` with stdio on /dev/null and no
    /// other inherited descriptor (an inherited pipe would keep whoever started us waiting for its end).
    /// Call before any thread exists (fork copies only the calling thread).
    public static func fromTerminal() throws {
        let pid = fork()
        guard pid >= 0 else { throw SystemError(errno: errno) }
        if pid > 0 { _exit(0) }
        guard setsid() >= 0 else { throw SystemError(errno: errno) }
        _ = chdir("/")
        closeInheritedDescriptors()
        let null = open("/dev/null", O_RDWR)
        guard null >= 0 else { throw SystemError(errno: errno) }
        for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] { _ = dup2(null, descriptor) }
        if null > STDERR_FILENO { _ = close(null) }
    }

    /// Closes every descriptor above stderr.
    private static func closeInheritedDescriptors() {
        guard let directory = opendir("/proc/self/fd") else { return }
        var open: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let descriptor = Int32(name), descriptor > STDERR_FILENO { open.append(descriptor) }
        }
        let own = dirfd(directory)
        closedir(directory)
        for descriptor in open where descriptor != own { _ = close(descriptor) }
    }
}
