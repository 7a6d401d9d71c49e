import Atomics

/// When mail last came and how many messages are in progress — what the learning loop reads to finetune only
/// when the daemon is idle, and to pause between training steps while any message is being received or
/// classified (classification goes first). A message counts from MAIL FROM until its `Token` is released:
/// when it is classified, aborted, or its connection closes.
public final class MailActivity: Sendable {
    /// Held by one message in progress; releasing it ends the message.
    public final class Token: Sendable {
        private let activity: MailActivity

        fileprivate init(_ activity: MailActivity) {
            self.activity = activity
        }

        deinit {
            activity.touch()
            activity.inProgress.wrappingDecrement(ordering: .releasing)
        }
    }

    private let origin = ContinuousClock.now
    /// Nanoseconds from `origin` to the last start or end of a message.
    private let lastActivity = ManagedAtomic<Int64>(0)
    private let inProgress = ManagedAtomic(0)

    /// Idle time counts from now.
    public init() {}

    /// A message began; it is in progress until the token is released.
    public func messageStarted() -> Token {
        inProgress.wrappingIncrement(ordering: .acquiring)
        touch()
        return Token(self)
    }

    /// Messages between MAIL FROM and their verdict.
    public var messagesInProgress: Int { inProgress.load(ordering: .acquiring) }

    /// Time since a message last started or ended (since `init` before the first one). Zero while messages are
    /// in progress.
    public var idleFor: Duration {
        guard messagesInProgress == 0 else { return .zero }
        let last = Duration.nanoseconds(lastActivity.load(ordering: .relaxed))
        return max(.zero, origin.duration(to: .now) - last)
    }

    private func touch() {
        let elapsed = origin.duration(to: .now).components
        lastActivity.store(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000, ordering: .relaxed)
    }
}
