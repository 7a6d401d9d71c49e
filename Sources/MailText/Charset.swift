/// A charset label from a message, resolved to how its bytes get decoded.
///
/// Labels map to the most generous decoder that is safe: ISO-8859-1 is read as Windows-1252
/// (senders mislabel, and 0x80–0x9F would otherwise be control characters), GB2312 and GBK as
/// GB18030, Shift_JIS as CP932, EUC-KR and KS C 5601 as CP949, Big5 as Big5-HKSCS.
enum Charset: Hashable, Sendable {
    case ascii
    case utf8
    case windows1252
    /// Any other charset, by its glibc iconv name.
    case iconv(String)

    /// Nil for an absent or empty label.
    init?(label: String?) {
        guard var name = label?.trimmingWhitespace().lowercased() else { return nil }
        name = String(name.trimmingCharacters(in: "\"'"))
        guard !name.isEmpty else { return nil }
        if let known = Self.aliases[name] {
            self = known
            return
        }
        if name.hasPrefix("iso-8859-"), name.hasSuffix("-i") || name.hasSuffix("-e") {
            name.removeLast(2) // ISO-8859-6-I/-E and 8-I/-E only say how to lay out bidi text.
        }
        self = .iconv(name.uppercased())
    }

    /// Whether bytes below 0x80 mean ASCII, so pure-ASCII text needs no conversion. Not so for
    /// the wide and the 7-bit stateful encodings.
    var isASCIICompatible: Bool {
        guard case .iconv(let name) = self else { return true }
        return !["UTF-16", "UTF-32", "UCS-2", "UCS-4", "UTF-7", "UNICODE", "ISO-2022", "CSISO2022", "ISO2022", "HZ"]
            .contains { name.hasPrefix($0) }
    }

    var name: String {
        switch self {
        case .ascii: "us-ascii"
        case .utf8: "utf-8"
        case .windows1252: "windows-1252"
        case .iconv(let name): name.lowercased()
        }
    }

    private static let aliases: [String: Charset] = {
        var table: [String: Charset] = [:]
        func add(_ charset: Charset, _ labels: String...) { for l in labels { table[l] = charset } }
        add(.ascii, "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "cp367", "ibm367", "csascii")
        add(.utf8, "utf-8", "utf8", "unicode-1-1-utf-8")
        add(.windows1252, "iso-8859-1", "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "latin1", "latin-1", "l1",
            "cp819", "ibm819", "iso-ir-100", "csisolatin1", "windows-1252", "cp1252", "x-cp1252", "cp-1252", "win-1252")
        add(.iconv("GB18030"), "gb2312", "gbk", "gb18030", "cp936", "ms936", "windows-936", "x-gbk", "euc-cn",
            "x-euc-cn", "csgb2312", "gb_2312-80", "gb_2312", "chinese", "gb2312_charset")
        add(.iconv("BIG5-HKSCS"), "big5", "big-5", "x-big5", "cn-big5", "csbig5", "big5-hkscs", "cp950", "chinesebig5")
        add(.iconv("CP932"), "shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j",
            "cp932", "ms932", "x-ms-cp932")
        add(.iconv("EUC-JP-MS"), "euc-jp", "x-euc-jp", "eucjp", "cseucpkdfmtjapanese")
        add(.iconv("ISO-2022-JP-2"), "iso-2022-jp", "csiso2022jp", "iso-2022-jp-2")
        add(.iconv("CP949"), "euc-kr", "ks_c_5601-1987", "ks_c_5601", "ksc5601", "ksc_5601", "korean",
            "csksc56011987", "iso-ir-149", "windows-949", "cp949", "x-windows-949", "uhc")
        return table
    }()
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        let s = self[...]
        guard let start = s.firstIndex(where: { !set.contains($0) }) else { return s[s.endIndex...] }
        return s[start...s.lastIndex(where: { !set.contains($0) })!]
    }
}

/// Turns bytes in some charset into UTF-8, never failing: undecodable bytes become U+FFFD, and
/// text that is not what its label says is read as UTF-8 when it is valid UTF-8, else as
/// Windows-1252.
enum TextDecoder {
    /// The bytes as UTF-8, or nil when they already are valid UTF-8 and can be used as they are.
    /// `charset` nil means the label was absent.
    static func utf8(
        _ bytes: UnsafeBufferPointer<UInt8>, charset: Charset?, problems: inout ProblemLog
    ) -> [UInt8]? {
        guard let charset else { return guess(bytes) }
        if charset.isASCIICompatible && isASCII(bytes) { return nil }
        switch charset {
        case .ascii:
            problems.note("8-bit bytes in text labelled us-ascii")
            return guess(bytes)
        case .utf8:
            if isValidUTF8(bytes) { return nil }
            problems.note("invalid UTF-8 in text labelled utf-8")
            return Array(String(decoding: bytes, as: UTF8.self).utf8)
        case .windows1252:
            return windows1252ToUTF8(bytes)
        case .iconv(let name):
            guard let result = IconvCache.shared.convert(bytes, from: name) else {
                problems.note("unknown charset '\(charset.name)'")
                return guess(bytes)
            }
            if result.errors > 0 {
                if isValidUTF8(bytes) {
                    problems.note("text labelled \(charset.name) is UTF-8")
                    return nil
                }
                problems.note("bytes invalid in \(charset.name)")
            }
            return result.utf8
        }
    }

    /// For text with no label, or a label found to be wrong.
    static func guess(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        isValidUTF8(bytes) ? nil : windows1252ToUTF8(bytes)
    }

    static func string(_ bytes: UnsafeBufferPointer<UInt8>, charset: Charset?, problems: inout ProblemLog) -> String {
        if let converted = utf8(bytes, charset: charset, problems: &problems) {
            return String(decoding: converted, as: UTF8.self)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard var p = bytes.baseAddress else { return true }
        let end = p + bytes.count
        while end - p >= 8 {
            if UnsafeRawPointer(p).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
            p += 8
        }
        while p < end {
            if p.pointee >= 0x80 { return false }
            p += 1
        }
        return true
    }

    /// Well-formed UTF-8 per Unicode: no overlong forms, surrogates, or scalars past U+10FFFF.
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard var p = bytes.baseAddress else { return true }
        let end = p + bytes.count
        while p < end {
            if end - p >= 8, UnsafeRawPointer(p).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                p += 8
                continue
            }
            let b0 = p.pointee
            if b0 < 0x80 {
                p += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF // allowed range of the second byte
            switch b0 {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return false
            }
            guard end - p >= length, p[1] >= low, p[1] <= high else { return false }
            for i in 2..<max(2, length) where p[i] & 0xC0 != 0x80 { return false }
            p += length
        }
        return true
    }

    static func windows1252ToUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        // Each byte becomes at most three (0x80 is U+20AC).
        [UInt8](unsafeUninitializedCapacity: bytes.count * 3) { out, count in
            var w = 0
            windows1252High.withUnsafeBufferPointer { high in
                for b in bytes {
                    if b < 0x80 {
                        out[w] = b
                        w += 1
                        continue
                    }
                    let v = b < 0xA0 ? high[Int(b - 0x80)] : UInt32(b)
                    if v < 0x800 {
                        out[w] = 0xC0 | UInt8(v >> 6)
                        out[w + 1] = 0x80 | UInt8(v & 0x3F)
                        w += 2
                    } else {
                        out[w] = 0xE0 | UInt8(v >> 12)
                        out[w + 1] = 0x80 | UInt8(v >> 6 & 0x3F)
                        out[w + 2] = 0x80 | UInt8(v & 0x3F)
                        w += 3
                    }
                }
            }
            count = w
        }
    }
}

/// Windows-1252 0x80–0x9F; the five unassigned bytes map to the C1 controls, as browsers do.
let windows1252High: [UInt32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
]

/// Appends a scalar value as UTF-8; a value that is no scalar becomes U+FFFD.
func appendUTF8(_ value: UInt32, to out: inout [UInt8]) {
    let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
    let v = scalar.value
    switch v {
    case 0..<0x80:
        out.append(UInt8(v))
    case 0x80..<0x800:
        out.append(0xC0 | UInt8(v >> 6))
        out.append(0x80 | UInt8(v & 0x3F))
    case 0x800..<0x10000:
        out.append(0xE0 | UInt8(v >> 12))
        out.append(0x80 | UInt8(v >> 6 & 0x3F))
        out.append(0x80 | UInt8(v & 0x3F))
    default:
        out.append(0xF0 | UInt8(v >> 18))
        out.append(0x80 | UInt8(v >> 12 & 0x3F))
        out.append(0x80 | UInt8(v >> 6 & 0x3F))
        out.append(0x80 | UInt8(v & 0x3F))
    }
}
