/// The malformations met in one message, each reported once, at most `limit` of them: a hostile
/// message can be malformed in a million places, and the log must stay small.
struct ProblemLog: Sendable {
    static let limit = 32

    private(set) var entries: [String] = []

    mutating func note(_ problem: @autoclosure () -> String) {
        guard entries.count < Self.limit else { return }
        let text = problem()
        if !entries.contains(text) { entries.append(text) }
    }
}
