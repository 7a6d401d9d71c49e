#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Classic daemon start for running without a supervisor: leave the terminal and the session.
public enum Detach {
    /// Forks; the parent exits 0, the child becomes a session leader in `/` with stdio on /dev/null.
    /// Call before any thread exists (fork copies only the calling thread).
    public static func fromTerminal() throws {
        let pid = fork()
        guard pid >= 0 else { throw SystemError(errno: errno) }
        if pid > 0 { _exit(0) }
        guard setsid() >= 0 else { throw SystemError(errno: errno) }
        _ = chdir("/")
        let null = open("/dev/null", O_RDWR)
        guard null >= 0 else { throw SystemError(errno: errno) }
        for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] { _ = dup2(null, descriptor) }
        if null > STDERR_FILENO { _ = close(null) }
    }
}
