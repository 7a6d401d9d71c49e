import Dispatch
import MailText
import SpamguardService
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A test double for `ClassifierModel`: the score of a sequence is its first token / 1000, so every caller
/// can check it got its own answer; each forward pass sleeps `delay`, or waits for `gate` to open (then tests
/// need no wall-clock bounds: "the answer came while the pass was still running" holds however slow the
/// machine), and is recorded.
final class FakeModel: ClassifierModel {
    enum Failure: Error { case broken }

    let version: String
    let extraction = ExtractionOptions()
    private let delay: Duration
    private let behaviour: Behaviour
    let gate: Gate?
    private let seen = Mutex<[Int]>([])
    private let threads = Mutex<Set<UInt>>([])

    enum Behaviour: Sendable {
        /// Messages mentioning the keyword score 0.97, others 0.03 (tokens: [1] or [0]).
        case keyword(String)
        case firstTokenOverThousand
        case constant(Float)
        case throwing
        case wrongCount
    }

    init(version: String = "fake-1", delay: Duration = .zero, gated: Bool = false, behaviour: Behaviour = .firstTokenOverThousand) {
        self.version = version
        self.delay = delay
        self.behaviour = behaviour
        self.gate = gated ? Gate() : nil
    }

    /// Holds forward passes until opened; stays open.
    final class Gate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private let opened = Mutex(false)
        private let entered = Mutex(0)

        func open() {
            let first = opened.withLock { opened in
                defer { opened = true }
                return !opened
            }
            if first { semaphore.signal() }
        }

        /// Forward passes that reached the gate so far.
        var arrivals: Int { entered.withLock { $0 } }

        fileprivate func pass() {
            entered.withLock { $0 += 1 }
            semaphore.wait()
            semaphore.signal()
        }
    }

    /// Batch sizes of every forward pass so far.
    var batchSizes: [Int] { seen.withLock { $0 } }
    /// The threads forward passes ran on.
    var computeThreads: Set<UInt> { threads.withLock { $0 } }

    func tokens(for text: String) -> [Int32] {
        if case .keyword(let word) = behaviour { return [text.contains(word) ? 1 : 0] }
        return [Int32(text) ?? 0]
    }

    func spamProbabilities(_ batch: [[Int32]]) throws -> [Float] {
        seen.withLock { $0.append(batch.count) }
        threads.withLock { _ = $0.insert(UInt(pthread_self())) }
        gate?.pass()
        if delay > .zero {
            let (seconds, attoseconds) = delay.components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            var remaining = timespec()
            while nanosleep(&request, &remaining) != 0 { request = remaining }
        }
        switch behaviour {
        case .keyword: return batch.map { $0.first == 1 ? 0.97 : 0.03 }
        case .firstTokenOverThousand: return batch.map { Float($0.first ?? 0) / 1000 }
        case .constant(let score): return batch.map { _ in score }
        case .throwing: throw Failure.broken
        case .wrongCount: return [0.5]
        }
    }
}
