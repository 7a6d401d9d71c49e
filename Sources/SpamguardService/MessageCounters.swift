import Atomics
import CoreMetrics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Message counts per outcome since `since`, for the control socket, systemd's STATUS= line and Prometheus
/// (`spamguard_messages_total{outcome=…}`). They survive restarts: the daemon restores them from
/// `CountersFile` at start, and `CountersPersistence` saves them.
public final class MessageCounters: Sendable {
    /// What happened to one message.
    public enum Outcome: String, Sendable, CaseIterable {
        /// Scanned, below `add_header_at`.
        case ham
        /// Scanned, spam: flagged with `X-Spam-Flag: YES`.
        case tagged
        /// Scanned, spam at `quarantine_at`.
        case quarantined
        /// Scanned, spam at `reject_at`: refused with 550.
        case rejected
        /// Not scanned by rule (authenticated sender, listed network) or because no classifier is loaded.
        case skipped
        /// Could not be classified: the model failed (`on_error` applied).
        case failed = "errors"
        /// Could not be classified in time (`on_error` applied).
        case timedOut = "timeouts"

        public init(_ action: Verdict.Action) {
            switch action {
            case .pass: self = .ham
            case .flag: self = .tagged
            case .quarantine: self = .quarantined
            case .reject: self = .rejected
            }
        }

        /// The model scored the message.
        public var isScanned: Bool {
            switch self {
            case .ham, .tagged, .quarantined, .rejected: true
            case .skipped, .failed, .timedOut: false
            }
        }

        fileprivate var index: Int {
            switch self {
            case .ham: 0
            case .tagged: 1
            case .quarantined: 2
            case .rejected: 3
            case .skipped: 4
            case .failed: 5
            case .timedOut: 6
            }
        }
    }

    public struct Snapshot: Sendable, Equatable {
        public var ham = 0
        public var tagged = 0
        public var quarantined = 0
        public var rejected = 0
        public var skipped = 0
        public var failed = 0
        public var timedOut = 0

        public init(ham: Int = 0, tagged: Int = 0, quarantined: Int = 0, rejected: Int = 0, skipped: Int = 0, failed: Int = 0, timedOut: Int = 0) {
            self.ham = ham
            self.tagged = tagged
            self.quarantined = quarantined
            self.rejected = rejected
            self.skipped = skipped
            self.failed = failed
            self.timedOut = timedOut
        }

        public subscript(outcome: Outcome) -> Int {
            get {
                switch outcome {
                case .ham: ham
                case .tagged: tagged
                case .quarantined: quarantined
                case .rejected: rejected
                case .skipped: skipped
                case .failed: failed
                case .timedOut: timedOut
                }
            }
            set {
                switch outcome {
                case .ham: ham = newValue
                case .tagged: tagged = newValue
                case .quarantined: quarantined = newValue
                case .rejected: rejected = newValue
                case .skipped: skipped = newValue
                case .failed: failed = newValue
                case .timedOut: timedOut = newValue
                }
            }
        }

        /// Every message, whatever its outcome.
        public var total: Int { Outcome.allCases.reduce(0) { $0 + self[$1] } }
        /// Messages the model scored.
        public var scanned: Int { ham + tagged + quarantined + rejected }
        /// Scanned messages at or above `add_header_at`.
        public var spam: Int { tagged + quarantined + rejected }
        /// Messages that could not be classified (`on_error` applied).
        public var unclassified: Int { failed + timedOut }

        /// Outcome name → count, as persisted and reported.
        public var byName: [String: Int] {
            Dictionary(uniqueKeysWithValues: Outcome.allCases.map { ($0.rawValue, self[$0]) })
        }

        /// Counts from `byName`; unknown names (a newer daemon's) are ignored, negative counts read as 0.
        public init(byName counts: [String: Int]) {
            self.init()
            for outcome in Outcome.allCases { self[outcome] = max(0, counts[outcome.rawValue] ?? 0) }
        }
    }

    /// Since when these counts count: the first start with no saved counters.
    public let since: Date
    private let counts: [ManagedAtomic<Int>]
    private let exported: [CoreMetrics.Counter]

    /// - Parameters:
    ///   - restoring: counts saved by an earlier run, counted on from here (and reported to `metrics` too,
    ///     so that Prometheus shows the same totals).
    ///   - metrics: where `spamguard_messages_total` goes (the daemon's Prometheus factory, when enabled).
    public init(since: Date = Date(), restoring restored: Snapshot = Snapshot(), metrics: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.since = since
        counts = Outcome.allCases.map { ManagedAtomic(restored[$0]) }
        exported = Outcome.allCases.map { outcome in
            let counter = CoreMetrics.Counter(label: "spamguard_messages_total", dimensions: [("outcome", outcome.rawValue)], factory: metrics)
            if restored[outcome] > 0 { counter.increment(by: restored[outcome]) }
            return counter
        }
    }

    public func record(_ outcome: Outcome) {
        counts[outcome.index].wrappingIncrement(ordering: .relaxed)
        exported[outcome.index].increment()
    }

    func recordSkipped() { record(.skipped) }

    public var snapshot: Snapshot {
        var snapshot = Snapshot()
        for outcome in Outcome.allCases { snapshot[outcome] = counts[outcome.index].load(ordering: .relaxed) }
        return snapshot
    }
}
