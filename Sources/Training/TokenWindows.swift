import GPT

/// How a message's tokens become the model's input: its first `count × length` tokens, cut into up to `count`
/// consecutive windows of `length` tokens. The body reads each window as a sequence of its own (positions from 0,
/// no attention across windows); the classifier combines the windows' pooled states (`WindowPooling`). A message
/// of at most `length` tokens is one window, exactly the single-sequence input of `count` 1. For `.last` pooling
/// (the book's padding) the last window is padded to `length`; windows are never all padding.
public struct TokenWindows: Sendable, Hashable {
    /// Tokens per window (at most the model's positions).
    public var length: Int
    /// At most this many windows per message.
    public var count: Int
    public var padToken: Int32
    /// Pad the last window to `length` (`.last` pooling).
    public var padded: Bool

    public init(length: Int, count: Int, padToken: Int32, pooling: Pooling) {
        precondition(length >= 1 && count >= 1, "windows need a positive length and count")
        self.length = length
        self.count = count
        self.padToken = padToken
        padded = pooling == .last
    }

    /// The most tokens of a message the model reads: tokenize this many.
    public var tokenLimit: Int { length * count }

    /// A message's token ids as the model reads them, windows back to back: cut to `tokenLimit`, one padding
    /// token if empty, the last window padded to `length` when `padded`.
    public func prepare(_ ids: [Int32]) -> [Int32] {
        var t = Array(ids.prefix(tokenLimit))
        if t.isEmpty { t = [padToken] }
        let rest = t.count % length
        if padded && rest != 0 { t += [Int32](repeating: padToken, count: length - rest) }
        return t
    }

    /// The windows of a prepared sequence (`prepare`'s output): consecutive slices of `length` tokens, the last
    /// one possibly shorter.
    public func split(_ prepared: [Int32]) -> [[Int32]] {
        guard !prepared.isEmpty else { return [prepared] }   // the model refuses it with a clear error
        return stride(from: 0, to: prepared.count, by: length).map { Array(prepared[$0..<min($0 + length, prepared.count)]) }
    }
}
