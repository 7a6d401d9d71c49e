/// Folds whitespace in UTF-8 text: a run of whitespace becomes one newline if it holds a line
/// break (and lines are kept), else one space; leading and trailing whitespace goes.
///
/// Whitespace here is Unicode's (including no-break and ideographic spaces) plus every control
/// character, so NULs and stray escapes cannot glue words together or reach the model.
/// Invisible format characters (soft hyphen, zero-width space and joiners, word joiner, BOM) are
/// dropped, which undoes the `V<U+200B>iagra` trick.
struct WhitespaceFolder {
    private(set) var output: [UInt8] = []
    private let keepsLines: Bool
    private var pending = Pending.none

    private enum Pending { case none, space, newline }

    init(keepsLines: Bool, capacity: Int = 0) {
        self.keepsLines = keepsLines
        output.reserveCapacity(capacity)
    }

    static func fold(_ text: UnsafeBufferPointer<UInt8>, keepsLines: Bool) -> [UInt8] {
        var folder = WhitespaceFolder(keepsLines: keepsLines, capacity: text.count)
        folder.append(text)
        return folder.output
    }

    static func foldLine(_ text: String) -> String {
        var text = text
        return text.withUTF8 { String(decoding: fold($0, keepsLines: false), as: UTF8.self) }
    }

    /// `text` must be valid UTF-8.
    mutating func append(_ text: UnsafeBufferPointer<UInt8>) {
        guard let base = text.baseAddress else { return }
        let n = text.count
        var i = 0
        while i < n {
            let b = base[i]
            if b > 0x20 && b < 0x7F {
                // A run of visible ASCII: the common case, copied in one go.
                var j = i + 1
                while j < n, base[j] > 0x20, base[j] < 0x7F { j += 1 }
                emitPending()
                output.append(contentsOf: UnsafeBufferPointer(start: base + i, count: j - i))
                i = j
                continue
            }
            // Valid UTF-8 never ends inside a sequence; `min` only keeps a broken caller in bounds.
            let length = min(b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4, n - i)
            switch Self.classify(base + i, length: length) {
            case .visible:
                emitPending()
                output.append(contentsOf: UnsafeBufferPointer(start: base + i, count: length))
            case .space:
                if pending == .none { pending = .space }
            case .lineBreak:
                pending = keepsLines ? .newline : (pending == .none ? .space : pending)
            case .invisible:
                break
            }
            i += length
        }
    }

    private mutating func emitPending() {
        switch pending {
        case .none: return
        case .space: if !output.isEmpty { output.append(0x20) }
        case .newline: if !output.isEmpty { output.append(0x0A) }
        }
        pending = .none
    }

    private enum Class { case visible, space, lineBreak, invisible }

    private static func classify(_ p: UnsafePointer<UInt8>, length: Int) -> Class {
        let b0 = p[0]
        switch length {
        case 1:
            switch b0 {
            case 0x0A, 0x0B, 0x0C, 0x0D: return .lineBreak
            case 0x00...0x20, 0x7F: return .space
            default: return .visible
            }
        case 2:
            guard b0 == 0xC2 else { return .visible }
            switch p[1] {
            case 0x85: return .lineBreak // NEL
            case 0x80...0xA0: return .space // C1 controls, no-break space
            case 0xAD: return .invisible // soft hyphen
            default: return .visible
            }
        case 3:
            let b1 = p[1], b2 = p[2]
            switch (b0, b1) {
            case (0xE1, 0x9A) where b2 == 0x80: return .space // U+1680
            case (0xE2, 0x80):
                switch b2 {
                case 0x80...0x8A, 0xAF: return .space // U+2000–U+200A, U+202F
                case 0x8B...0x8D: return .invisible // U+200B–U+200D
                case 0xA8, 0xA9: return .lineBreak // U+2028, U+2029
                default: return .visible
                }
            case (0xE2, 0x81) where b2 == 0x9F: return .space // U+205F
            case (0xE2, 0x81) where b2 == 0xA0: return .invisible // U+2060
            case (0xE3, 0x80) where b2 == 0x80: return .space // U+3000
            case (0xEF, 0xBB) where b2 == 0xBF: return .invisible // U+FEFF
            default: return .visible
            }
        default:
            return .visible
        }
    }
}

/// Counting and cutting UTF-8 text by Unicode scalars.
enum ScalarCount {
    static func of(_ utf8: some Sequence<UInt8>) -> Int {
        utf8.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
    }

    /// The byte length of the first `limit` scalars of valid UTF-8 `utf8`.
    static func prefixLength(_ utf8: [UInt8], scalars limit: Int) -> Int {
        var seen = 0
        for (i, b) in utf8.enumerated() where b & 0xC0 != 0x80 {
            if seen == limit { return i }
            seen += 1
        }
        return utf8.count
    }
}
