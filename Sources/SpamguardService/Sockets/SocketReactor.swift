import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Suspends tasks until their non-blocking sockets are ready, so that the control and metrics servers
/// never block a thread of Swift's cooperative pool: one `epoll` set, watched by one thread of its own.
///
/// A wait ends when the socket is ready, when its deadline passes (`TimedOut`), or when the waiting task is
/// cancelled (`CancellationError`). Each socket has at most one waiter at a time (its connection's task).
/// Every state change happens under one lock, so readiness, deadline and cancellation cannot both resume a
/// waiter.
final class SocketReactor: Sendable {
    enum Interest: Sendable {
        case readable
        case writable
    }

    struct TimedOut: Error, Equatable {}

    /// The reactor was stopped while the task waited.
    struct Stopped: Error, Equatable {}

    private let core: Core
    private let thread: OSThread

    init() throws(SystemError) {
        let core = try Core()
        self.core = core
        thread = OSThread { core.loop() }
    }

    /// Waits until `descriptor` is ready for `interest`, at most until `deadline` (nil: no limit).
    func wait(
        for interest: Interest, on descriptor: Int32, until deadline: ContinuousClock.Instant? = nil
    ) async throws {
        let waiter = Waiter(descriptor: descriptor, deadline: deadline)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                core.register(waiter, interest: interest, continuation: continuation)
            }
        } onCancel: {
            core.finish(waiter, with: .failure(CancellationError()))
        }
    }

    /// Ends the thread and fails every waiter with `Stopped`. Idempotent.
    func stop() {
        if core.requestStop() { thread.join() }
    }

    /// One wait. Its fields are guarded by `Core.state`'s lock.
    private final class Waiter: @unchecked Sendable {
        let descriptor: Int32
        let deadline: ContinuousClock.Instant?
        var continuation: CheckedContinuation<Void, any Error>?
        /// Resumed, or cancelled before it was registered.
        var finished = false

        init(descriptor: Int32, deadline: ContinuousClock.Instant?) {
            self.descriptor = descriptor
            self.deadline = deadline
        }
    }

    private final class Core: Sendable {
        private struct State {
            var waiters: [Int32: Waiter] = [:]
            var stopped = false
        }

        private let epoll: Int32
        /// Written to wake the thread: a new deadline to watch, or stop.
        private let wakeup: Int32
        private let state = Mutex(State())

        init() throws(SystemError) {
            epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
            guard epoll >= 0 else { throw SystemError(errno: errno) }
            wakeup = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
            guard wakeup >= 0 else {
                let error = errno
                close(epoll)
                throw SystemError(errno: error)
            }
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.fd = wakeup
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event) == 0 else {
                let error = errno
                close(wakeup)
                close(epoll)
                throw SystemError(errno: error)
            }
        }

        deinit {
            close(wakeup)
            close(epoll)
        }

        func register(_ waiter: Waiter, interest: Interest, continuation: CheckedContinuation<Void, any Error>) {
            let failure: (any Error)? = state.withLock { state in
                if waiter.finished { return CancellationError() }
                if state.stopped { return Stopped() }
                precondition(state.waiters[waiter.descriptor] == nil, "two waiters on descriptor \(waiter.descriptor)")
                var event = epoll_event()
                event.events = (interest == .readable ? EPOLLIN.rawValue : EPOLLOUT.rawValue) | EPOLLONESHOT.rawValue
                event.data.fd = waiter.descriptor
                guard epoll_ctl(epoll, EPOLL_CTL_ADD, waiter.descriptor, &event) == 0 else {
                    waiter.finished = true
                    return SystemError(errno: errno)
                }
                waiter.continuation = continuation
                state.waiters[waiter.descriptor] = waiter
                return nil
            }
            if let failure {
                continuation.resume(throwing: failure)
            } else if waiter.deadline != nil {
                signal()  // the thread may be sleeping past this deadline
            }
        }

        /// Resumes `waiter` with `result` unless it already was. Safe from any thread.
        func finish(_ waiter: Waiter, with result: Result<Void, any Error>) {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                take(waiter, from: &state)
            }
            continuation?.resume(with: result)
        }

        /// Marks `waiter` finished and unregisters it; returns its continuation if it was waiting.
        private func take(_ waiter: Waiter, from state: inout State) -> CheckedContinuation<Void, any Error>? {
            guard !waiter.finished else { return nil }
            waiter.finished = true
            if state.waiters[waiter.descriptor] === waiter {
                state.waiters[waiter.descriptor] = nil
                _ = epoll_ctl(epoll, EPOLL_CTL_DEL, waiter.descriptor, nil)
            }
            defer { waiter.continuation = nil }
            return waiter.continuation
        }

        /// Returns true the first time.
        func requestStop() -> Bool {
            let first = state.withLock { state in
                defer { state.stopped = true }
                return !state.stopped
            }
            if first { signal() }
            return first
        }

        private func signal() {
            var one: UInt64 = 1
            _ = write(wakeup, &one, 8)
        }

        /// The thread: waits for events or the nearest deadline, resumes whoever is due.
        func loop() {
            var events = [epoll_event](repeating: epoll_event(), count: 64)
            while true {
                let timeout = state.withLock { state in Self.milliseconds(until: state.waiters.values.compactMap(\.deadline).min()) }
                let count = epoll_wait(epoll, &events, Int32(events.count), timeout)
                if count < 0, errno != EINTR { fatalError("epoll_wait: \(SystemError(errno: errno))") }

                var due: [(CheckedContinuation<Void, any Error>, Result<Void, any Error>)] = []
                let stopping = state.withLock { state in
                    for event in events.prefix(max(0, Int(count))) {
                        let descriptor = event.data.fd
                        if descriptor == wakeup {
                            var value: UInt64 = 0
                            _ = read(wakeup, &value, 8)
                        } else if let waiter = state.waiters[descriptor], let continuation = take(waiter, from: &state) {
                            due.append((continuation, .success(())))
                        }
                    }
                    let now = ContinuousClock.now
                    for waiter in state.waiters.values {
                        if let deadline = waiter.deadline, deadline <= now, let continuation = take(waiter, from: &state) {
                            due.append((continuation, .failure(TimedOut())))
                        }
                    }
                    if state.stopped {
                        for waiter in state.waiters.values {
                            if let continuation = take(waiter, from: &state) { due.append((continuation, .failure(Stopped()))) }
                        }
                    }
                    return state.stopped
                }
                for (continuation, result) in due { continuation.resume(with: result) }
                if stopping { return }
            }
        }

        /// epoll_wait's timeout: -1 for none, else milliseconds rounded up (never wake before the deadline).
        private static func milliseconds(until deadline: ContinuousClock.Instant?) -> Int32 {
            guard let deadline else { return -1 }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return 0 }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            return Int32(clamping: milliseconds)
        }
    }
}
