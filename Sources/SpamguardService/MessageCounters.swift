import Atomics

/// Message counts since start, for systemd's STATUS= line (and, later, the control socket).
public final class MessageCounters: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var scanned = 0
        public var spam = 0
        public var rejected = 0
        /// Could not be classified (deadline, model failure): `on_error` applied.
        public var unclassified = 0
        /// Not scanned by rule (authenticated sender, listed network) or because no classifier is loaded.
        public var skipped = 0
    }

    private let scanned = ManagedAtomic(0)
    private let spam = ManagedAtomic(0)
    private let rejected = ManagedAtomic(0)
    private let unclassified = ManagedAtomic(0)
    private let skipped = ManagedAtomic(0)

    public init() {}

    func recordScanned(spam isSpam: Bool, rejected isRejected: Bool) {
        scanned.wrappingIncrement(ordering: .relaxed)
        if isSpam { spam.wrappingIncrement(ordering: .relaxed) }
        if isRejected { rejected.wrappingIncrement(ordering: .relaxed) }
    }

    func recordUnclassified() { unclassified.wrappingIncrement(ordering: .relaxed) }
    func recordSkipped() { skipped.wrappingIncrement(ordering: .relaxed) }

    public var snapshot: Snapshot {
        Snapshot(
            scanned: scanned.load(ordering: .relaxed),
            spam: spam.load(ordering: .relaxed),
            rejected: rejected.load(ordering: .relaxed),
            unclassified: unclassified.load(ordering: .relaxed),
            skipped: skipped.load(ordering: .relaxed)
        )
    }
}
