import Dispatch
import Synchronization

/// The model's answer for one message.
public struct Classification: Sendable, Equatable {
    /// Spam probability in [0, 1].
    public var score: Float
    public var modelVersion: String
    /// How many messages shared the forward pass.
    public var batchSize: Int
    /// Submission → start of the forward pass.
    public var queued: Duration
    /// The forward pass itself.
    public var compute: Duration
}

public enum ClassificationError: Error, Equatable, CustomStringConvertible {
    /// No answer before the message's deadline.
    case deadlineExceeded
    /// The model threw or returned something unusable.
    case modelFailed(String)
    /// No classifier is loaded.
    case noModel
    /// The daemon is stopping.
    case shuttingDown

    public var description: String {
        switch self {
        case .deadlineExceeded: "deadline exceeded"
        case .modelFailed(let reason): "model failed: \(reason)"
        case .noModel: "no classifier loaded"
        case .shuttingDown: "shutting down"
        }
    }
}

/// One message's request to the model: tokens in, a classification (or an error) out — exactly once.
///
/// Whoever resolves first wins: the compute thread with a score, the model actor with an error, or the
/// waiter itself when its deadline passes. A libmilter thread blocks in `wait()` (a semaphore with a
/// deadline); async callers suspend in `result()`. Neither blocks the actor or the cooperative pool.
public final class ClassificationTicket: Sendable {
    public typealias Outcome = Result<Classification, ClassificationError>

    public let tokens: [Int32]
    /// The model whose tokenizer produced `tokens`; the ticket is classified by this same model, even if a
    /// reload swaps in another one meanwhile.
    public let model: any ClassifierModel
    public let deadline: ContinuousClock.Instant
    public let submitted: ContinuousClock.Instant

    private enum State {
        case pending(waiter: CheckedContinuation<Outcome, Never>?)
        case resolved(Outcome)
    }

    private let state = Mutex(State.pending(waiter: nil))
    private let resolvedSignal = DispatchSemaphore(value: 0)

    public init(tokens: [Int32], model: any ClassifierModel, deadline: ContinuousClock.Instant) {
        self.tokens = tokens
        self.model = model
        self.deadline = deadline
        self.submitted = .now
    }

    /// Resolves the ticket unless it already is; returns whether this call did.
    @discardableResult
    public func resolve(_ outcome: Outcome) -> Bool {
        let (won, waiter): (Bool, CheckedContinuation<Outcome, Never>?) = state.withLock { state in
            guard case .pending(let waiter) = state else { return (false, nil) }
            state = .resolved(outcome)
            return (true, waiter)
        }
        guard won else { return false }
        resolvedSignal.signal()
        waiter?.resume(returning: outcome)
        return true
    }

    public var isResolved: Bool {
        state.withLock { if case .resolved = $0 { true } else { false } }
    }

    /// Blocks the calling thread until the ticket is resolved or its deadline passes (then it resolves
    /// itself with `.deadlineExceeded`). For libmilter's threads only — never call it from async code.
    public func wait() -> Outcome {
        let remaining = ContinuousClock.now.duration(to: deadline)
        let nanoseconds = max(0, remaining.components.seconds) * 1_000_000_000
            + max(0, remaining.components.attoseconds / 1_000_000_000)
        if resolvedSignal.wait(timeout: .now() + .nanoseconds(Int(clamping: nanoseconds))) == .timedOut {
            resolve(.failure(.deadlineExceeded))
        }
        return state.withLock { state in
            guard case .resolved(let outcome) = state else { preconditionFailure("ticket resolved without outcome") }
            return outcome
        }
    }

    /// Suspends until the ticket is resolved (the caller arranges for the deadline, see `ModelActor.classify`).
    public func result() async -> Outcome {
        await withCheckedContinuation { continuation in
            let ready: Outcome? = state.withLock { state in
                switch state {
                case .resolved(let outcome): return outcome
                case .pending:
                    state = .pending(waiter: continuation)
                    return nil
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
