import Testing
@testable import MailText

private func text(charset: String, _ body: [UInt8], encoding: String = "8bit") -> ExtractedText {
    MailText.extract(raw(headers: [
        "Subject: c", "Content-Type: text/plain; charset=\"\(charset)\"", "Content-Transfer-Encoding: \(encoding)",
    ], body: body))
}

@Suite struct CharsetTests {
    /// Bytes made with `iconv -t <charset>`.
    @Test(arguments: [
        ("utf-8", "c5bbc3b3c582c487", "Żółć"),
        ("US-ASCII", "706c61696e", "plain"),
        ("iso-8859-1", "636166e9", "café"),
        ("ISO-8859-2", "aff3b3e6", "Żółć"),
        ("iso-8859-15", "a420636166e9", "€ café"),
        ("windows-1252", "9371756f746573942080", "“quotes” €"),
        ("windows-1251", "cff0e8e2e5f2", "Привет"),
        ("koi8-r", "f0d2c9d7c5d4", "Привет"),
        ("gb2312", "d6d0cec4d3cabcfe", "中文邮件"),
        ("gb2312", "e946", "镕"), // GBK, not GB2312: labels lie, GB18030 reads both
        ("GBK", "d6d0cec4", "中文"),
        ("gb18030", "d6d0cec4", "中文"),
        ("big5", "a4a4a4e5b66ca5f3", "中文郵件"),
        ("shift_jis", "93fa967b8cea82cc8381815b838b", "日本語のメール"),
        ("euc-jp", "c6fccbdcb8eca4cea5e1a1bca5eb", "日本語のメール"),
        ("iso-2022-jp", "1b2442467c4b5c386c244e2561213c256b1b2842", "日本語のメール"),
        ("euc-kr", "c7d1b1b9beee", "한국어"),
        ("ks_c_5601-1987", "c7d1b1b9beee", "한국어"),
        ("utf-16le", "3d d8 00 de 21 00", "😀!"),
    ])
    func decodes(charset: String, bytes: String, expected: String) {
        let result = text(charset: charset, hex(bytes))
        #expect(result.body == expected)
        #expect(result.problems.isEmpty)
    }

    @Test func unknownCharsetFallsBackToUTF8WhenValid() {
        let result = text(charset: "x-no-such-charset", Array("naïve".utf8))
        #expect(result.body == "naïve")
        #expect(result.problems == ["unknown charset 'x-no-such-charset'"])
    }

    @Test func unknownCharsetFallsBackToWindows1252() {
        #expect(text(charset: "default", hex("636166e9 20 80")).body == "café €")
    }

    @Test func namesThatCouldSteerIconvAreNotPassedOn() {
        for label in ["utf-8//TRANSLIT", "../../etc/passwd", "UTF-16LE//IGNORE"] {
            let result = text(charset: label, Array("naïve".utf8))
            #expect(result.body == "naïve")
            #expect(result.problems.first?.hasPrefix("unknown charset") == true)
        }
    }

    @Test func utf8TextLabelledAsSomethingElseIsReadAsUTF8() {
        let result = text(charset: "big5", Array("Grüße – “hi”".utf8))
        #expect(result.body == "Grüße – “hi”")
        #expect(result.problems == ["text labelled big5-hkscs is UTF-8"])
    }

    @Test func eightBitTextLabelledASCIIIsGuessed() {
        #expect(text(charset: "us-ascii", Array("é".utf8)).body == "é")
        #expect(text(charset: "us-ascii", [0xE9]).body == "é")
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        let result = text(charset: "utf-8", [0x61, 0xFF, 0x62, 0xC3])
        #expect(result.body == "a\u{FFFD}b\u{FFFD}")
        #expect(result.problems == ["invalid UTF-8 in text labelled utf-8"])
    }

    @Test func invalidBytesInAMultibyteCharsetBecomeReplacementCharacters() {
        // A valid character, a lead byte followed by a byte no Shift_JIS trail can be, and a
        // character cut off by the end.
        let result = text(charset: "shift_jis", hex("93fa 81 0a 93"))
        #expect(result.body.hasPrefix("日\u{FFFD}"))
        #expect(result.body.hasSuffix("\u{FFFD}"))
        #expect(result.problems == ["bytes invalid in cp932"])
    }

    @Test func noLabelMeansUTF8OrWindows1252() {
        #expect(MailText.extract(raw(headers: ["Subject: s"], body: Array("Grüße".utf8))).body == "Grüße")
        #expect(MailText.extract(raw(headers: ["Subject: s"], body: [0x47, 0x72, 0xFC, 0xDF, 0x65])).body == "Grüße")
    }

    @Test func charsetWithBase64AndQuotedPrintable() {
        #expect(text(charset: "koi8-r", Array("8NLJ18XU".utf8), encoding: "base64").body == "Привет")
        #expect(text(charset: "iso-8859-1", Array("caf=E9".utf8), encoding: "quoted-printable").body == "café")
    }

    @Test func utf8Validation() {
        let cases: [([UInt8], Bool)] = [
            ([0x41], true), ([0xC3, 0xA9], true), ([0xE2, 0x82, 0xAC], true), ([0xF0, 0x9F, 0x98, 0x80], true),
            ([0xC0, 0x80], false), ([0xE0, 0x80, 0x80], false), ([0xED, 0xA0, 0x80], false),
            ([0xF4, 0x90, 0x80, 0x80], false), ([0xC3], false), ([0x80], false), ([0xFF], false),
            (Array("long ASCII run, then é".utf8), true),
        ]
        for (bytes, valid) in cases {
            #expect(bytes.withUnsafeBufferPointer(TextDecoder.isValidUTF8) == valid, "\(bytes)")
        }
    }

    @Test func concurrentConversionsShareTheDescriptorCacheSafely() async {
        let sample = raw(headers: ["Content-Type: text/plain; charset=shift_jis"], body: hex("93fa967b8cea"))
        let results = await withTaskGroup(of: String.self) { group in
            for _ in 0..<64 { group.addTask { MailText.extract(sample).body } }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: "日本語", count: 64))
    }
}
