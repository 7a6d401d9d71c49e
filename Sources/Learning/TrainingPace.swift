import SpamguardService
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// When background training may compute. A trainer calls `checkpoint()` between steps: it returns at once
/// when nothing else needs the machine, blocks while mail is in progress (classification goes first) or an
/// operator has paused training, and throws once training is to stop (the daemon is shutting down). Within a
/// step, `yieldToMail()` runs before every matrix product and blocks while mail is in progress.
public final class TrainingPace: Sendable {
    private struct State {
        var paused = false
        var cancelled = false
        var waitingForMail = false
        var heldByPause = false
        var mailPauses = 0
    }

    private let state = Mutex(State())
    private let activity: MailActivity?

    /// - Parameter activity: nil trains without regard to mail (offline tools, tests).
    public init(activity: MailActivity?) {
        self.activity = activity
    }

    /// Holds training at its next checkpoint until `resume()`.
    public func pause() { state.withLock { $0.paused = true } }
    public func resume() { state.withLock { $0.paused = false } }
    /// Makes every checkpoint from now on throw `CancellationError`. Final.
    public func cancel() { state.withLock { $0.cancelled = true } }

    public var isPaused: Bool { state.withLock { $0.paused } }
    public var isCancelled: Bool { state.withLock { $0.cancelled } }
    /// A checkpoint is holding training back because mail is in progress.
    public var isWaitingForMail: Bool { state.withLock { $0.waitingForMail } }
    /// A checkpoint is holding training back because an operator paused it (after `pause()`, the step in
    /// progress finishes first).
    public var isHeldByPause: Bool { state.withLock { $0.heldByPause } }
    /// How many times training has stepped aside for mail.
    public var mailPauses: Int { state.withLock { $0.mailPauses } }

    /// Called between the kernels of a step (before every matrix product, milliseconds apart): returns at once
    /// unless mail is in progress, and then naps until it is not, so that a step under way hands the CPU (and the
    /// caches, and a hyperthread's sibling) back to classification within a kernel's time rather than at its end.
    /// Operator pauses and cancellation wait for the step's `checkpoint()`.
    public func yieldToMail() {
        guard let activity, activity.messagesInProgress > 0 else { return }
        state.withLock {
            $0.waitingForMail = true
            $0.mailPauses += 1
        }
        while activity.messagesInProgress > 0, !isCancelled { sleep(milliseconds: 2) }
        state.withLock { $0.waitingForMail = false }
    }

    public func checkpoint() throws(CancellationError) {
        var steppedAside = false
        defer {
            state.withLock {
                if steppedAside { $0.waitingForMail = false }
                $0.heldByPause = false
            }
        }
        while true {
            let (paused, cancelled) = state.withLock { state in
                state.heldByPause = state.paused
                return (state.paused, state.cancelled)
            }
            if cancelled { throw CancellationError() }
            let mail = (activity?.messagesInProgress ?? 0) > 0
            if !paused, !mail { return }
            if mail, !steppedAside {
                steppedAside = true
                state.withLock {
                    $0.waitingForMail = true
                    $0.mailPauses += 1
                }
            }
            // Short naps while mail is in progress, so training resumes soon after the verdict.
            sleep(milliseconds: mail ? 2 : 50)
        }
    }

    private func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: 0, tv_nsec: milliseconds * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }
}
