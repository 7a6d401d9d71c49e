/// RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`) in header text.
///
/// Lenient like mail clients: encoded words are found anywhere, not only between whitespace,
/// and whitespace between two adjacent encoded words is dropped as the RFC says. Adjacent words in
/// the same charset are joined before decoding, since encoders split multibyte characters
/// across words. Raw 8-bit bytes outside encoded words are read as UTF-8 when valid, else in
/// `fallback` (the charset of the entity's text), else as Windows-1252.
enum EncodedWords {
    static func decode(_ bytes: [UInt8], fallback: Charset?, problems: inout ProblemLog) -> String {
        var result = ""
        var run: (charset: Charset?, bytes: [UInt8])? = nil // encoded bytes awaiting decoding
        var literalStart = 0
        var i = 0
        let n = bytes.count

        func flushRun() {
            guard let pending = run else { return }
            pending.bytes.withUnsafeBufferPointer {
                result += TextDecoder.string($0, charset: pending.charset, problems: &problems)
            }
            run = nil
        }

        while i + 1 < n {
            guard bytes[i] == UInt8(ascii: "="), bytes[i + 1] == UInt8(ascii: "?"),
                let word = parseWord(bytes, at: i)
            else {
                i += 1
                continue
            }
            let literal = bytes[literalStart..<i]
            if run == nil || !literal.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }) {
                flushRun()
                result += headerText(literal, fallback: fallback, problems: &problems)
            }
            if run == nil || run!.charset != word.charset {
                flushRun()
                run = (word.charset, [])
            }
            decodeText(bytes[word.text], isBase64: word.isBase64, into: &run!.bytes)
            i = word.end
            literalStart = i
        }
        flushRun()
        result += headerText(bytes[literalStart...], fallback: fallback, problems: &problems)
        return result
    }

    /// Header bytes that are not encoded words.
    static func headerText(_ bytes: ArraySlice<UInt8>, fallback: Charset?, problems: inout ProblemLog) -> String {
        bytes.withUnsafeBufferPointer { buffer in
            if TextDecoder.isValidUTF8(buffer) { return String(decoding: buffer, as: UTF8.self) }
            if let fallback, fallback != .ascii, fallback != .utf8 {
                return TextDecoder.string(buffer, charset: fallback, problems: &problems)
            }
            problems.note("8-bit bytes in a header")
            return String(decoding: TextDecoder.windows1252ToUTF8(buffer), as: UTF8.self)
        }
    }

    private struct Word {
        var charset: Charset?
        var isBase64: Bool
        var text: Range<Int>
        var end: Int
    }

    /// `=?charset?E?text?=` at `start`; the text holds no whitespace and no `?`.
    private static func parseWord(_ b: [UInt8], at start: Int) -> Word? {
        let n = b.count
        var i = start + 2
        let charsetStart = i
        while i < n, b[i] != UInt8(ascii: "?") {
            if b[i] <= 0x20 || b[i] >= 0x7F || i - charsetStart > 64 { return nil }
            i += 1
        }
        guard i + 3 < n, i > charsetStart, b[i + 2] == UInt8(ascii: "?") else { return nil }
        let isBase64: Bool
        switch b[i + 1] {
        case UInt8(ascii: "B"), UInt8(ascii: "b"): isBase64 = true
        case UInt8(ascii: "Q"), UInt8(ascii: "q"): isBase64 = false
        default: return nil
        }
        var label = String(decoding: b[charsetStart..<i], as: UTF8.self)
        if let star = label.firstIndex(of: "*") { label = String(label[..<star]) } // RFC 2231 language
        let textStart = i + 3
        var j = textStart
        while j < n, b[j] != UInt8(ascii: "?") {
            if b[j] <= 0x20 { return nil }
            j += 1
        }
        guard j + 1 < n, b[j + 1] == UInt8(ascii: "=") else { return nil }
        return Word(charset: Charset(label: label), isBase64: isBase64, text: textStart..<j, end: j + 2)
    }

    private static func decodeText(_ text: ArraySlice<UInt8>, isBase64: Bool, into out: inout [UInt8]) {
        if isBase64 {
            var decoder = Base64Decoder()
            text.withUnsafeBufferPointer { input in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: input.count + 2) { buffer in
                    var count = decoder.decode(input, to: buffer.baseAddress!)
                    count += decoder.flush(to: buffer.baseAddress! + count)
                    out.append(contentsOf: buffer[0..<count])
                }
            }
            return
        }
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == UInt8(ascii: "_") {
                out.append(0x20)
            } else if c == UInt8(ascii: "="), i + 2 < text.endIndex,
                let high = hexValue(text[i + 1]), let low = hexValue(text[i + 2])
            {
                out.append(high << 4 | low)
                i += 2
            } else {
                out.append(c)
            }
            i += 1
        }
    }
}
