#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain POSIX thread running one closure: for the work that must not run on Swift's cooperative pool
/// (a blocking C main loop, a `sigwait` loop, CPU-heavy model work).
final class OSThread: Sendable {
    private let handle: pthread_t

    private final class Start {
        let body: () -> Void
        init(body: @escaping () -> Void) { self.body = body }
    }

    /// Starts `body` on a new thread.
    init(body: @escaping @Sendable () -> Void) {
        let start = Unmanaged.passRetained(Start(body: body)).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(&handle, nil, { argument in
            Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, start)
        precondition(status == 0, "pthread_create failed: \(SystemError(errno: status))")
        self.handle = handle
    }

    /// Waits for the thread to finish. Call once, and not after `detach()`.
    func join() {
        _ = pthread_join(handle, nil)
    }

    /// Lets the thread's resources go when it ends, without anyone joining it.
    func detach() {
        _ = pthread_detach(handle)
    }

    /// Sends `signal` to this thread only (`pthread_kill`).
    func send(signal: Int32) {
        _ = pthread_kill(handle, signal)
    }
}
