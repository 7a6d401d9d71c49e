/// The text a reader sees in an HTML part: comments, scripts and styles dropped, tags removed
/// (block-level ones become line breaks, table cells spaces), character references decoded,
/// line ends in the source read as blanks.
///
/// One forward pass with no backtracking, so time is linear whatever the markup; unterminated
/// comments, tags and quoted attribute values run to the end, as they do in browsers. Works on
/// UTF-8 bytes: all markup is ASCII, and UTF-8 never uses ASCII bytes inside a character.
enum HTMLText {
    static func text(from html: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(html.count / 2)
        var i = 0
        let n = html.count
        while i < n {
            let start = i
            while i < n, html[i] != UInt8(ascii: "<"), html[i] != UInt8(ascii: "&"), html[i] != 0x0A, html[i] != 0x0D { i += 1 }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: html[start..<i]))
            guard i < n else { break }
            switch html[i] {
            case UInt8(ascii: "&"): i = reference(html, at: i, into: &out)
            case UInt8(ascii: "<"): i = markup(html, at: i, into: &out)
            default:
                out.append(0x20) // line ends in HTML source are blanks; only markup breaks lines
                i += 1
            }
        }
        return out
    }

    /// Handles what starts with `<` at `i`; returns where text resumes.
    private static func markup(_ html: UnsafeBufferPointer<UInt8>, at i: Int, into out: inout [UInt8]) -> Int {
        let n = html.count
        if hasPrefix(html, at: i, "<!--") {
            return find(html, "-->", from: i + 4).map { $0 + 3 } ?? n
        }
        if i + 1 < n, html[i + 1] == UInt8(ascii: "!") || html[i + 1] == UInt8(ascii: "?") {
            return find(html, ">", from: i + 2).map { $0 + 1 } ?? n // doctype, CDATA, processing instruction
        }
        var j = i + 1
        let closing = j < n && html[j] == UInt8(ascii: "/")
        if closing { j += 1 }
        guard j < n, isLetter(html[j]) else {
            out.append(UInt8(ascii: "<")) // `a < b` is text
            return i + 1
        }
        var name: [UInt8] = []
        while j < n, isLetter(html[j]) || isDigit(html[j]) || html[j] == UInt8(ascii: "-") || html[j] == UInt8(ascii: ":") {
            if name.count < 16 { name.append(html[j] | 0x20) }
            j += 1
        }
        let end = endOfTag(html, from: j)
        let tag = String(decoding: name, as: UTF8.self)
        if !closing, tag == "script" || tag == "style" {
            guard let close = findIgnoringCase(html, "</" + tag, from: end) else { return n }
            return find(html, ">", from: close).map { $0 + 1 } ?? n
        }
        if blockTags.contains(tag) {
            out.append(0x0A)
        } else if tag == "td" || tag == "th" {
            out.append(0x20)
        }
        return end
    }

    /// Index after the `>` closing a tag whose attributes start at `i`. A quote opens a value
    /// only right after `=`, so a stray apostrophe in an attribute cannot swallow the document.
    private static func endOfTag(_ html: UnsafeBufferPointer<UInt8>, from i: Int) -> Int {
        let n = html.count
        var k = i
        while k < n {
            switch html[k] {
            case UInt8(ascii: ">"):
                return k + 1
            case UInt8(ascii: "="):
                k += 1
                while k < n, html[k] == 0x20 || html[k] == 0x09 || html[k] == 0x0A || html[k] == 0x0D { k += 1 }
                if k < n, html[k] == UInt8(ascii: "\"") || html[k] == UInt8(ascii: "'") {
                    guard let close = find(html, html[k], from: k + 1) else { return n }
                    k = close + 1
                }
            default:
                k += 1
            }
        }
        return n
    }

    /// Decodes the character reference at `i` (an `&`); returns where text resumes.
    private static func reference(_ html: UnsafeBufferPointer<UInt8>, at i: Int, into out: inout [UInt8]) -> Int {
        let n = html.count
        var j = i + 1
        if j < n, html[j] == UInt8(ascii: "#") {
            j += 1
            let hex = j < n && (html[j] | 0x20) == UInt8(ascii: "x")
            if hex { j += 1 }
            let digitsStart = j
            var value: UInt32 = 0
            while j < n, let digit = hex ? hexValue(html[j]) : (isDigit(html[j]) ? html[j] - 48 : nil) {
                value = min(value * (hex ? 16 : 10) + UInt32(digit), 0x110000) // saturate: no overflow
                j += 1
            }
            guard j > digitsStart else {
                out.append(UInt8(ascii: "&"))
                return i + 1
            }
            if j < n, html[j] == UInt8(ascii: ";") { j += 1 }
            appendUTF8(numericReference(value), to: &out)
            return j
        }
        while j < n, j - i <= 32, isLetter(html[j]) || isDigit(html[j]) { j += 1 }
        let name = String(decoding: UnsafeBufferPointer(rebasing: html[(i + 1)..<j]), as: UTF8.self)
        if j < n, html[j] == UInt8(ascii: ";"), let value = HTMLEntities.values[name] {
            appendUTF8(value, to: &out)
            return j + 1
        }
        // Without `;`, the longest legacy name the run starts with: `&copyright` is ©right.
        for length in stride(from: name.utf8.count, through: 2, by: -1) {
            let prefix = String(name.utf8.prefix(length))!
            if HTMLEntities.withoutSemicolon.contains(prefix) {
                appendUTF8(HTMLEntities.values[prefix]!, to: &out)
                return i + 1 + length
            }
        }
        out.append(UInt8(ascii: "&"))
        return i + 1
    }

    /// As HTML5 reads `&#…;`: NUL, surrogates and out-of-range values become U+FFFD, and
    /// 0x80–0x9F are taken as Windows-1252, which is what pages that use them meant.
    private static func numericReference(_ value: UInt32) -> UInt32 {
        switch value {
        case 0, 0xD800...0xDFFF, 0x110000...: 0xFFFD
        case 0x80...0x9F: windows1252High[Int(value - 0x80)]
        default: value
        }
    }

    private static let blockTags: Set<String> = [
        "address", "article", "aside", "blockquote", "body", "br", "caption", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "head",
        "header", "hr", "html", "li", "main", "nav", "ol", "option", "p", "pre", "section", "table", "tbody",
        "textarea", "tfoot", "thead", "title", "tr", "ul",
    ]

    private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func hasPrefix(_ html: UnsafeBufferPointer<UInt8>, at i: Int, _ prefix: String) -> Bool {
        let p = Array(prefix.utf8)
        return i + p.count <= html.count && html[i..<(i + p.count)].elementsEqual(p)
    }

    private static func find(_ html: UnsafeBufferPointer<UInt8>, _ byte: UInt8, from i: Int) -> Int? {
        guard i < html.count else { return nil }
        return html[i...].firstIndex(of: byte)
    }

    /// Where `needle` next starts at or after `i` (exact bytes).
    static func find(_ html: UnsafeBufferPointer<UInt8>, _ needle: String, from i: Int) -> Int? {
        let p = Array(needle.utf8)
        var k = i
        while let hit = find(html, p[0], from: k) {
            if hasPrefix(html, at: hit, needle) { return hit }
            k = hit + 1
        }
        return nil
    }

    /// `needle` is lowercase ASCII.
    private static func findIgnoringCase(_ html: UnsafeBufferPointer<UInt8>, _ needle: String, from i: Int) -> Int? {
        let p = Array(needle.utf8)
        var k = i
        while k + p.count <= html.count {
            if html[k] == p[0], (1..<p.count).allSatisfy({ html[k + $0] | 0x20 == p[$0] | 0x20 }) { return k }
            k += 1
        }
        return nil
    }
}
