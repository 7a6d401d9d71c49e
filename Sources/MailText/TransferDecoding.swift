/// Content-Transfer-Encoding of a part's body, decoded line by line into a `TextArena`.
///
/// The body arrives as the pieces of its lines (see `LineSplitter`), with `lineBreak()` between
/// two lines and `finish()` after the last. The line end before a boundary belongs to the
/// boundary, so a body never ends with a line break.
enum TransferDecoder: Sendable {
    /// 7bit, 8bit, binary, and anything unknown.
    case identity
    case base64(Base64Decoder)
    case quotedPrintable(QuotedPrintableDecoder)

    /// `value` is the raw Content-Transfer-Encoding value, or nil when there is none.
    init(encoding value: String?, problems: inout ProblemLog) {
        guard let value else { self = .identity; return }
        switch value.lowercased() {
        case "base64": self = .base64(Base64Decoder())
        case "quoted-printable": self = .quotedPrintable(QuotedPrintableDecoder())
        case "7bit", "8bit", "binary", "": self = .identity
        default:
            problems.note("unknown Content-Transfer-Encoding '\(value.prefix(40))', read as 8bit")
            self = .identity
        }
    }

    mutating func decode(_ piece: UnsafeBufferPointer<UInt8>, into out: inout TextArena) {
        switch self {
        case .identity: out.append(piece)
        case .base64(var d): d.decode(piece, into: &out); self = .base64(d)
        case .quotedPrintable(var d): d.decode(piece, into: &out); self = .quotedPrintable(d)
        }
    }

    mutating func lineBreak(into out: inout TextArena) {
        switch self {
        case .identity: out.append(0x0A)
        case .base64: break
        case .quotedPrintable(var d): d.endLine(hard: true, into: &out); self = .quotedPrintable(d)
        }
    }

    mutating func finish(into out: inout TextArena) {
        switch self {
        case .identity: break
        case .base64(var d): d.finish(into: &out); self = .base64(d)
        case .quotedPrintable(var d): d.endLine(hard: false, into: &out); self = .quotedPrintable(d)
        }
    }
}

/// Lenient base64: characters outside the alphabet are skipped, `=` ends a quantum wherever it
/// comes (so concatenated encodings decode too), and a missing pad is forgiven.
struct Base64Decoder: Sendable {
    private var bits: UInt32 = 0
    private var sextets = 0

    mutating func decode(_ input: UnsafeBufferPointer<UInt8>, into out: inout TextArena) {
        guard !input.isEmpty else { return }
        // Up to three sextets may be left from the previous piece, so one byte can complete 3.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: input.count + 3) { buffer in
            let produced = decode(input, to: buffer.baseAddress!)
            out.append(UnsafeBufferPointer(rebasing: buffer[0..<produced]))
        }
    }

    mutating func finish(into out: inout TextArena) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2) { buffer in
            let produced = flush(to: buffer.baseAddress!)
            out.append(UnsafeBufferPointer(rebasing: buffer[0..<produced]))
        }
    }

    /// Decodes into `output`, which has room for `input.count + 3` bytes; returns the bytes written.
    mutating func decode(_ input: UnsafeBufferPointer<UInt8>, to output: UnsafeMutablePointer<UInt8>) -> Int {
        var written = 0
        base64Values.withUnsafeBufferPointer { values in
            for byte in input {
                let value = values[Int(byte)]
                if value < 64 {
                    bits = bits << 6 | UInt32(value)
                    sextets += 1
                    if sextets == 4 {
                        output[written] = UInt8(truncatingIfNeeded: bits >> 16)
                        output[written + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                        output[written + 2] = UInt8(truncatingIfNeeded: bits)
                        written += 3
                        bits = 0
                        sextets = 0
                    }
                } else if byte == UInt8(ascii: "=") {
                    written += flush(to: output + written)
                }
            }
        }
        return written
    }

    /// Ends a short quantum: two sextets hold one byte, three hold two; a lone sextet holds none.
    mutating func flush(to output: UnsafeMutablePointer<UInt8>) -> Int {
        defer { bits = 0; sextets = 0 }
        switch sextets {
        case 2:
            output[0] = UInt8(truncatingIfNeeded: bits >> 4)
            return 1
        case 3:
            output[0] = UInt8(truncatingIfNeeded: bits >> 10)
            output[1] = UInt8(truncatingIfNeeded: bits >> 2)
            return 2
        default:
            return 0
        }
    }
}

/// Values of base64 characters; 255 for everything else.
private let base64Values: [UInt8] = {
    var table = [UInt8](repeating: 255, count: 256)
    for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
        table[Int(c)] = UInt8(i)
    }
    return table
}()

/// Quoted-printable (RFC 2045 §6.7), leniently: lowercase hex digits are accepted, a `=` not
/// followed by two hex digits is kept as it is, and whitespace at the end of a line is dropped.
///
/// Whitespace can only be judged at the end of its line, so it is held back; to keep the state
/// small and fixed, a run longer than 64 is let go as ordinary text.
struct QuotedPrintableDecoder: Sendable {
    private enum Pending: Sendable {
        case none
        case equals
        case equalsHex(UInt8)
        /// `=` followed by held whitespace: a soft line break if the line ends here.
        case equalsSpace
    }

    private var pending = Pending.none
    /// Held whitespace: `heldCount` bytes, bit i of `heldTabs` set where byte i is a tab.
    private var heldCount = 0
    private var heldTabs: UInt64 = 0

    mutating func decode(_ input: UnsafeBufferPointer<UInt8>, into out: inout TextArena) {
        guard !input.isEmpty else { return }
        // Each input byte yields at most one output byte, plus what was held from before.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: input.count + 66) { buffer in
            var w = 0
            let o = buffer.baseAddress!
            var i = 0
            while i < input.count {
                if case .none = pending, heldCount == 0 {
                    // Ordinary bytes with nothing pending: copied straight through.
                    while i < input.count, input[i] != UInt8(ascii: "="), input[i] != 0x20, input[i] != 0x09 {
                        o[w] = input[i]
                        w += 1
                        i += 1
                    }
                    if i == input.count { break }
                }
                step(input[i], output: o, written: &w)
                i += 1
            }
            out.append(UnsafeBufferPointer(rebasing: buffer[0..<w]))
        }
    }

    /// Ends a line: `hard` when a line break follows, false at the end of the body.
    mutating func endLine(hard: Bool, into out: inout TextArena) {
        if case .equalsHex(let digit) = pending {
            out.append(UInt8(ascii: "="))
            out.append(digit)
        }
        // Held whitespace is trailing whitespace now; `=` or `=` + whitespace is a soft break.
        let soft = switch pending {
        case .equals, .equalsSpace: true
        case .none, .equalsHex: false
        }
        pending = .none
        heldCount = 0
        heldTabs = 0
        if hard && !soft { out.append(0x0A) }
    }

    private mutating func step(_ byte: UInt8, output o: UnsafeMutablePointer<UInt8>, written w: inout Int) {
        switch pending {
        case .none:
            if byte == 0x20 || byte == 0x09 {
                hold(byte, output: o, written: &w)
            } else {
                releaseHeld(output: o, written: &w)
                if byte == UInt8(ascii: "=") {
                    pending = .equals
                } else {
                    o[w] = byte
                    w += 1
                }
            }
        case .equals:
            if hexValue(byte) != nil {
                pending = .equalsHex(byte)
            } else if byte == 0x20 || byte == 0x09 {
                pending = .equalsSpace
                hold(byte, output: o, written: &w)
            } else {
                pending = .none
                o[w] = UInt8(ascii: "=")
                w += 1
                step(byte, output: o, written: &w)
            }
        case .equalsHex(let first):
            pending = .none
            if let low = hexValue(byte) {
                o[w] = hexValue(first)! << 4 | low
                w += 1
            } else {
                o[w] = UInt8(ascii: "=")
                o[w + 1] = first
                w += 2
                step(byte, output: o, written: &w)
            }
        case .equalsSpace:
            if byte == 0x20 || byte == 0x09 {
                hold(byte, output: o, written: &w)
            } else {
                pending = .none
                o[w] = UInt8(ascii: "=")
                w += 1
                releaseHeld(output: o, written: &w)
                step(byte, output: o, written: &w)
            }
        }
    }

    private mutating func hold(_ byte: UInt8, output o: UnsafeMutablePointer<UInt8>, written w: inout Int) {
        if heldCount == 64 {
            if case .equalsSpace = pending {
                pending = .none
                o[w] = UInt8(ascii: "=")
                w += 1
            }
            releaseHeld(output: o, written: &w)
        }
        if byte == 0x09 { heldTabs |= 1 << UInt64(heldCount) }
        heldCount += 1
    }

    private mutating func releaseHeld(output o: UnsafeMutablePointer<UInt8>, written w: inout Int) {
        for i in 0..<heldCount {
            o[w] = heldTabs >> UInt64(i) & 1 == 1 ? 0x09 : 0x20
            w += 1
        }
        heldCount = 0
        heldTabs = 0
    }
}

@inline(__always)
func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    default: nil
    }
}
