/// The classes of scalars tiktoken's gpt2 pattern tells apart: `\p{L}`, `\p{N}`, `\s` and the rest.
enum ScalarClass: UInt8 {
    case letter, number, whitespace, other

    init(_ scalar: Unicode.Scalar) {
        self = scalar.value < 0x10000 ? basicPlaneClasses[Int(scalar.value)] : Self(outsideBasicPlane: scalar)
    }

    /// Out of line: the properties API costs a metadata lookup in any function it is inlined into.
    @inline(never)
    private init(outsideBasicPlane scalar: Unicode.Scalar) {
        self.init(properties: scalar.properties)
    }

    @inline(__always)
    init(ascii byte: UInt8) {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): self = .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self = .number
        case UInt8(ascii: " "), 0x09...0x0D: self = .whitespace
        default: self = .other
        }
    }

    /// `\s` is the White_Space property and `\p{L}`, `\p{N}` the general categories, as in Rust's regex
    /// crate, which tiktoken uses. That crate implements Unicode 16.0: a scalar assigned in a later
    /// version is unassigned there, so `other`. (The fixture unicode-classes.txt, taken from tiktoken,
    /// checks every scalar.)
    init(properties: Unicode.Scalar.Properties) {
        guard let age = properties.age, (age.major, age.minor) <= (16, 0) else {
            self = .other
            return
        }
        if properties.isWhitespace {
            self = .whitespace
            return
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: self = .letter
        case .decimalNumber, .letterNumber, .otherNumber: self = .number
        default: self = .other
        }
    }
}

/// Looking properties up costs ~100 ns a scalar; text outside the basic plane (mostly emoji) is rare enough.
private let basicPlaneClasses: [ScalarClass] = (0..<0x10000).map { value in
    Unicode.Scalar(UInt32(value)).map { ScalarClass(properties: $0.properties) } ?? .other  // surrogates
}

/// Splits valid UTF-8 into the pieces tiktoken's gpt2 pattern matches, one at a time, left to right:
///
///     '(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// (tiktoken writes it with possessive quantifiers and `\s++$|\s+(?!\S)|\s` at the end, which matches
/// the same.) The alternatives are tried in order at the start of each piece, so the contractions
/// (lowercase, ASCII apostrophe only) win whatever follows them, and ` ?` takes one U+0020, never
/// another space.
struct PieceScanner {
    private let text: UnsafeBufferPointer<UInt8>
    private var position = 0

    init(_ utf8: UnsafeBufferPointer<UInt8>) { text = utf8 }

    /// The byte range of the next piece, or nil at the end of the text.
    mutating func next() -> Range<Int>? {
        let start = position
        guard start < text.count else { return nil }
        let first = text[start]
        if first == UInt8(ascii: "'"), let length = contractionLength(after: start + 1) {
            position = start + length
        } else {
            let (firstClass, firstLength) = scalarClass(at: start)
            if firstClass != .whitespace {
                position = endOfRun(of: firstClass, from: start + firstLength)
            } else if first == UInt8(ascii: " "), start + 1 < text.count,
                      case let (nextClass, nextLength) = scalarClass(at: start + 1), nextClass != .whitespace {
                position = endOfRun(of: nextClass, from: start + 1 + nextLength)
            } else {
                position = endOfWhitespace(from: start, firstLength: firstLength)
            }
        }
        return start..<position
    }

    /// 2 for 's 'd 'm 't, 3 for 'll 've 're, nil otherwise.
    @inline(__always)
    private func contractionLength(after index: Int) -> Int? {
        guard index < text.count else { return nil }
        switch text[index] {
        case UInt8(ascii: "s"), UInt8(ascii: "d"), UInt8(ascii: "m"), UInt8(ascii: "t"):
            return 2
        case let letter:
            guard index + 1 < text.count else { return nil }
            switch (letter, text[index + 1]) {
            case (UInt8(ascii: "l"), UInt8(ascii: "l")), (UInt8(ascii: "v"), UInt8(ascii: "e")), (UInt8(ascii: "r"), UInt8(ascii: "e")):
                return 3
            default:
                return nil
            }
        }
    }

    @inline(__always)
    private func endOfRun(of runClass: ScalarClass, from index: Int) -> Int {
        var index = index
        while index < text.count {
            let byte = text[index]
            if byte < 0x80 {  // ASCII, nearly all of mail
                guard ScalarClass(ascii: byte) == runClass else { break }
                index += 1
            } else {
                let (nextClass, length) = scalarClass(at: index)
                guard nextClass == runClass else { break }
                index += length
            }
        }
        return index
    }

    /// `\s+(?!\S)`: a run of whitespace up to the end of the text, or else up to its last scalar, which then
    /// starts the next piece (so " word" keeps its space). A lone whitespace scalar is a piece by `\s+`.
    private func endOfWhitespace(from start: Int, firstLength: Int) -> Int {
        var lastStart = start
        var end = start + firstLength
        while end < text.count {
            let (nextClass, length) = scalarClass(at: end)
            guard nextClass == .whitespace else { return lastStart > start ? lastStart : end }
            lastStart = end
            end += length
        }
        return end
    }

    @inline(__always)
    private func scalarClass(at index: Int) -> (ScalarClass, length: Int) {
        let lead = text[index]
        if lead < 0x80 { return (ScalarClass(ascii: lead), 1) }
        let length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        var value = UInt32(lead) & (0x7F >> UInt32(length))
        for offset in 1..<length { value = value << 6 | UInt32(text[index + offset] & 0x3F) }
        return (ScalarClass(Unicode.Scalar(value).unsafelyUnwrapped), length)
    }
}
