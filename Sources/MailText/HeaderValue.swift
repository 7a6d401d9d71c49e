/// A structured MIME header value: `Content-Type: text/plain; charset="utf-8"` or
/// `Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve.txt`.
///
/// Parsed leniently: whitespace around `/`, `;` and `=` is allowed, comments are skipped,
/// unterminated quotes run to the end, and a parameter without `=` is ignored.
struct HeaderValue: Sendable {
    /// The part before the first `;`, lowercased, whitespace removed: `text/plain`, `attachment`.
    var token: String
    /// Raw parameters in order: name lowercased, value unquoted but otherwise undecoded.
    private(set) var parameters: [(name: String, value: [UInt8])] = []

    init(_ bytes: [UInt8]) {
        var i = 0
        let n = bytes.count
        var token: [UInt8] = []
        while i < n, bytes[i] != UInt8(ascii: ";") {
            if bytes[i] == UInt8(ascii: "(") {
                i = Self.skipComment(bytes, at: i)
                continue
            }
            if bytes[i] > 0x20 {
                token.append(Self.lowercased(bytes[i]))
            } else if !token.isEmpty, token.last != UInt8(ascii: "/") {
                // `text / plain` is one token; `text/plain charset=x` lacks its `;`.
                var next = i
                while next < n, bytes[next] <= 0x20 { next += 1 }
                if next < n, bytes[next] != UInt8(ascii: "/"), bytes[next] != UInt8(ascii: ";") { break }
            }
            i += 1
        }
        self.token = String(decoding: token, as: UTF8.self)

        while i < n {
            while i < n, bytes[i] == UInt8(ascii: ";") || bytes[i] <= 0x20 { i += 1 }
            var name: [UInt8] = []
            while i < n, bytes[i] != UInt8(ascii: "="), bytes[i] != UInt8(ascii: ";") {
                if bytes[i] == UInt8(ascii: "(") {
                    i = Self.skipComment(bytes, at: i)
                    continue
                }
                if bytes[i] > 0x20 { name.append(Self.lowercased(bytes[i])) }
                i += 1
            }
            guard i < n, bytes[i] == UInt8(ascii: "=") else { continue }
            i += 1
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
            var value: [UInt8] = []
            if i < n, bytes[i] == UInt8(ascii: "\"") {
                i += 1
                while i < n, bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\"), i + 1 < n { i += 1 }
                    value.append(bytes[i])
                    i += 1
                }
                i += 1
            } else {
                while i < n, bytes[i] != UInt8(ascii: ";") {
                    value.append(bytes[i])
                    i += 1
                }
                while let last = value.last, last == 0x20 || last == 0x09 { value.removeLast() }
            }
            if !name.isEmpty { parameters.append((String(decoding: name, as: UTF8.self), value)) }
        }
    }

    /// The first parameter so named, exactly as it stands (for a boundary).
    func rawParameter(_ name: String) -> [UInt8]? {
        parameters.first { $0.name == name }?.value
    }

    /// A parameter as text: RFC 2231 (`name*=charset'lang'%XX`, `name*0=…; name*1=…`) assembled and
    /// decoded, else the plain value with RFC 2047 encoded words decoded (which mailers put in
    /// file names although the RFC forbids it).
    func parameter(_ name: String, problems: inout ProblemLog) -> String? {
        if let extended = rawParameter(name + "*") {
            return Self.decodeExtended([extended], problems: &problems)
        }
        if let sections = continuation(name) {
            return sections.extended
                ? Self.decodeExtended(sections.values, problems: &problems)
                : EncodedWords.decode(Array(sections.values.joined()), fallback: nil, problems: &problems)
        }
        guard let plain = rawParameter(name) else { return nil }
        return EncodedWords.decode(plain, fallback: nil, problems: &problems)
    }

    /// `name*0`, `name*1`, … in order, up to the first missing section. `extended` when the first
    /// section is `name*0*`; later `*` sections are percent-encoded, plain ones are literal.
    private func continuation(_ name: String) -> (values: [[UInt8]], extended: Bool)? {
        var values: [[UInt8]] = []
        var extended = false
        for index in 0..<100 {
            let plainName = "\(name)*\(index)"
            if let v = rawParameter(plainName + "*") {
                if index == 0 { extended = true }
                values.append(extended ? v : Self.percentDecoded(v))
            } else if let v = rawParameter(plainName) {
                values.append(extended ? Self.percentEncoded(v) : v)
            } else {
                break
            }
        }
        return values.isEmpty ? nil : (values, extended)
    }

    /// Sections of an RFC 2231 extended value, still percent-encoded; the first starts with
    /// `charset'language'`.
    private static func decodeExtended(_ sections: [[UInt8]], problems: inout ProblemLog) -> String {
        var first = sections[0][...]
        var charset: Charset? = nil
        let quotes = first.indices.filter { first[$0] == UInt8(ascii: "'") }.prefix(2)
        if quotes.count == 2 {
            charset = Charset(label: String(decoding: first[..<quotes.first!], as: UTF8.self))
            first = first[(quotes.last! + 1)...]
        }
        var bytes = percentDecoded(Array(first))
        for section in sections.dropFirst() { bytes += percentDecoded(section) }
        return bytes.withUnsafeBufferPointer { TextDecoder.string($0, charset: charset, problems: &problems) }
    }

    private static func percentDecoded(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
                let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2])
            {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// Escapes `%` so a literal section survives the percent-decoding of an extended value.
    private static func percentEncoded(_ bytes: [UInt8]) -> [UInt8] {
        bytes.flatMap { $0 == UInt8(ascii: "%") ? Array("%25".utf8) : [$0] }
    }

    private static func skipComment(_ bytes: [UInt8], at start: Int) -> Int {
        var depth = 0
        var i = start
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"): depth -= 1
            case UInt8(ascii: "\\"): i += 1
            default: break
            }
            i += 1
            if depth == 0 { break }
        }
        return i
    }

    private static func lowercased(_ c: UInt8) -> UInt8 {
        c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c + 32 : c
    }
}
