import ControlProtocol
import CoreMetrics
import Histogram
import Synchronization

/// How long messages wait at end-of-message for their classification: an HdrHistogram since the daemon
/// started, a sliding five-minute window, and the Prometheus histogram `spamguard_classify_seconds`.
/// Recorded from libmilter's threads, under a lock held for a few array writes.
public final class LatencyStats: Sendable {
    private struct State {
        var sinceStart = LatencyWindow.makeHistogram()
        var window = LatencyWindow()
    }

    private let state = Mutex(State())
    private let origin = ContinuousClock.now
    private let timer: CoreMetrics.Timer

    public init(metrics: any MetricsFactory = NOOPMetricsHandler.instance) {
        timer = CoreMetrics.Timer(label: "spamguard_classify_seconds", factory: metrics)
    }

    public func record(_ duration: Duration) {
        let elapsed = origin.duration(to: .now)
        let microseconds = LatencyWindow.microseconds(duration)
        state.withLock { state in
            state.sinceStart.record(microseconds)
            state.window.record(microseconds, at: elapsed)
        }
        timer.recordNanoseconds(Int64(clamping: duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000))
    }

    /// Percentiles since start and over the last five minutes.
    public func figures() -> LatencyFigures {
        let elapsed = origin.duration(to: .now)
        let (sinceStart, recent) = state.withLock { state in
            (state.sinceStart, state.window.merged(at: elapsed))
        }
        return LatencyFigures(sinceStart: LatencySummary(sinceStart), lastFiveMinutes: LatencySummary(recent))
    }
}

/// Latencies in microseconds.
typealias LatencyHistogram = Histogram<UInt32>

/// The last `slotCount × slotLength` of latencies (by default five minutes in 30-second slots): a ring of
/// histograms, one per slot. A slot is cleared when the ring comes round to it again, so a query covers
/// between `slotCount - 1` and `slotCount` whole slots plus the current one's part.
struct LatencyWindow: Sendable {

    /// Latencies are recorded in microseconds, up to a minute (anything longer counts as a minute).
    static let highestMicroseconds: UInt64 = 60_000_000

    static func makeHistogram() -> LatencyHistogram {
        LatencyHistogram(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .three)
    }

    static func microseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let value = UInt64(seconds) &* 1_000_000 &+ UInt64(attoseconds / 1_000_000_000_000)
        return seconds >= 60 ? highestMicroseconds : min(value, highestMicroseconds)
    }

    let slotLength: Duration
    private var slots: [LatencyHistogram]
    /// The slot number (time since start / slotLength) each ring position holds; -1 for none yet.
    private var slotNumbers: [Int64]

    init(slotLength: Duration = .seconds(30), slotCount: Int = 10) {
        precondition(slotCount >= 1 && slotLength > .zero)
        self.slotLength = slotLength
        slots = (0..<slotCount).map { _ in Self.makeHistogram() }
        slotNumbers = Array(repeating: -1, count: slotCount)
    }

    private func slotNumber(_ elapsed: Duration) -> Int64 {
        Int64((elapsed / slotLength).rounded(.down))
    }

    mutating func record(_ microseconds: UInt64, at elapsed: Duration) {
        let number = slotNumber(elapsed)
        let position = Int(number % Int64(slots.count))
        if slotNumbers[position] != number {
            slots[position].reset()
            slotNumbers[position] = number
        }
        slots[position].record(microseconds)
    }

    /// Everything recorded in the slots still inside the window at `elapsed`.
    func merged(at elapsed: Duration) -> LatencyHistogram {
        let current = slotNumber(elapsed)
        var merged = Self.makeHistogram()
        for (position, number) in slotNumbers.enumerated() where number >= 0 && number > current - Int64(slots.count) && number <= current {
            merged.add(slots[position])
        }
        return merged
    }
}

extension LatencySummary {
    init(_ histogram: LatencyHistogram) {
        guard histogram.totalCount > 0 else {
            self = .empty
            return
        }
        func milliseconds(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
        self.init(
            count: Int(histogram.totalCount),
            p50Milliseconds: milliseconds(histogram.valueAtPercentile(50)),
            p95Milliseconds: milliseconds(histogram.valueAtPercentile(95)),
            p99Milliseconds: milliseconds(histogram.valueAtPercentile(99)),
            maxMilliseconds: milliseconds(histogram.maxRecorded)
        )
    }
}
