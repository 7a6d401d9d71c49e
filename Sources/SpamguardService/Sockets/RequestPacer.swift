import Synchronization

/// Spaces requests out to at most `rate` per second on average, after a burst of up to `burst` (a token bucket,
/// kept as its theoretical arrival time: GCRA). One pacer is shared by every connection of a server, so no
/// number of clients can make the daemon spend more than a bounded share of a core answering them; a request
/// over the rate waits, suspended, for its turn. Measured before pacing: a flood of 9,300 control requests a
/// second took 86% of a core.
final class RequestPacer: Sendable {
    let interval: Duration
    let burst: Int
    /// When the bucket would be empty again if every admitted request so far had come at the full rate.
    private let theoreticalArrival: Mutex<ContinuousClock.Instant>

    init(perSecond rate: Int, burst: Int) {
        precondition(rate > 0 && burst > 0)
        interval = .seconds(1) / rate
        self.burst = burst
        theoreticalArrival = Mutex(.now)
    }

    /// When a request arriving `now` may go: at once during a burst, else at its turn. Reserves that turn.
    func reserve(at now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        theoreticalArrival.withLock { arrival in
            arrival = max(arrival, now)
            let allowed = arrival - interval * (burst - 1)
            arrival += interval
            return max(allowed, now)
        }
    }

    /// Waits for this request's turn. Throws `CancellationError` if the task is cancelled meanwhile.
    func admit() async throws {
        let now = ContinuousClock.now
        let turn = reserve(at: now)
        if turn > now { try await Task.sleep(until: turn, clock: .continuous) }
    }
}

/// Lets one log line of a kind through per `interval` and counts the ones held back, so that a peer
/// repeating a refused request cannot flood the log.
final class LogThrottle: Sendable {
    private let interval: Duration
    private let state = Mutex<(last: ContinuousClock.Instant?, heldBack: Int)>((nil, 0))

    init(interval: Duration = .seconds(1)) {
        self.interval = interval
    }

    /// Nil: hold this line back. A number: log it, and say that many similar lines were held back before it.
    func admit(at now: ContinuousClock.Instant = .now) -> Int? {
        state.withLock { state in
            if let last = state.last, now < last + interval {
                state.heldBack += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.heldBack
        }
    }

    /// `" (and N similar since the last one)"`, or nothing.
    static func suffix(_ heldBack: Int) -> String {
        heldBack > 0 ? " (and \(heldBack) similar since the last one)" : ""
    }
}
