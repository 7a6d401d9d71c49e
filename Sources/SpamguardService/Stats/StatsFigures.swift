import ControlProtocol

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The daemon's counts and facts as the control protocol reports them.
extension MessageFigures {
    init(_ counts: MessageCounters.Snapshot, since: Date) {
        let total = counts.total
        var outcomes: [String: OutcomeFigure] = [:]
        for outcome in MessageCounters.Outcome.allCases {
            let count = counts[outcome]
            outcomes[outcome.rawValue] = OutcomeFigure(count: count, share: total > 0 ? Double(count) / Double(total) : 0)
        }
        self.init(since: since, total: total, scanned: counts.scanned, outcomes: outcomes)
    }
}

extension BatchFigures {
    init(_ batchSizes: [Int: Int]) {
        self.init(
            forwardPasses: batchSizes.values.reduce(0, +),
            sizes: Dictionary(uniqueKeysWithValues: batchSizes.map { (String($0.key), $0.value) })
        )
    }
}

extension ClassifierFigures {
    init(version: String, facts: ClassifierFacts, now: Date) {
        self.init(
            version: version, created: facts.created, ageSeconds: facts.created.map { now.timeIntervalSince($0) },
            base: facts.base, baseSHA256: facts.baseSHA256, validation: facts.validation
        )
    }
}
