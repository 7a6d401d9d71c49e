import Testing
@testable import MailText

private func body(encoding: String, _ lines: [String]) -> String {
    extract(["Subject: t", "Content-Transfer-Encoding: " + encoding, ""] + lines).body
}

/// Decodes with the decoder alone, so line breaks in the output are visible (the body folds them).
private func decodeQP(_ lines: [String]) -> String {
    var arena = TextArena(capacity: 1 << 20)
    var decoder = TransferDecoder.quotedPrintable(QuotedPrintableDecoder())
    for (i, line) in lines.enumerated() {
        if i > 0 { decoder.lineBreak(into: &arena) }
        var line = line
        line.withUTF8 { decoder.decode($0, into: &arena) }
    }
    decoder.finish(into: &arena)
    return String(decoding: arena.bytes, as: UTF8.self)
}

@Suite struct TransferEncodingTests {
    @Test func base64() {
        #expect(body(encoding: "base64", ["SGVsbG8sIHdvcmxkIQ=="]) == "Hello, world!")
    }

    @Test func base64IsLenient() {
        // Whitespace and junk inside, lines of odd lengths, the pad missing.
        #expect(body(encoding: "BASE64", ["SGVs bG8s", "IH*dv\tcm", "xk!IQ"]) == "Hello, world!")
        // `=` ends a quantum wherever it is; what follows decodes on its own.
        #expect(body(encoding: "base64", ["SGk=SGk="]) == "HiHi")
        // A quantum split across lines: one character can finish up to three bytes.
        #expect(body(encoding: "base64", ["SGk", "=", "SGVsbG8", "h"]) == "HiHello!")
        // A lone trailing sextet carries no whole byte.
        #expect(body(encoding: "base64", ["SGkhS"]) == "Hi!")
    }

    @Test func quotedPrintable() {
        #expect(decodeQP(["caf=C3=A9 =", "cr=c3=a8me", "second line"]) == "café crème\nsecond line")
    }

    @Test func quotedPrintableSoftBreaksAndTrailingBlanks() {
        #expect(decodeQP(["soft =  ", "break", "trailing blanks   \t", "end"]) == "soft break\ntrailing blanks\nend")
        #expect(decodeQP(["last line ends in a soft break="]) == "last line ends in a soft break")
    }

    @Test func quotedPrintableKeepsStrayEquals() {
        #expect(decodeQP(["a=b", "1+1=2", "=G0", "=4", "x= y"]) == "a=b\n1+1=2\n=G0\n=4\nx= y")
    }

    @Test func quotedPrintableHoldsBackAtMost64Blanks() {
        let blanks = String(repeating: " ", count: 70)
        #expect(decodeQP(["a" + blanks + "b"]) == "a" + blanks + "b")
        #expect(decodeQP(["a" + blanks.prefix(64), "b"]) == "a\nb")
        #expect(decodeQP(["a" + blanks, "b"]) == "a" + blanks.prefix(64) + "\nb")
    }

    @Test(arguments: ["7bit", "8bit", "binary", "x-unknown"])
    func identityEncodings(encoding: String) {
        #expect(body(encoding: encoding, ["plain =41 text"]) == "plain =41 text")
    }

    @Test func unknownEncodingIsNoted() {
        let text = extract(["Content-Transfer-Encoding: x-uuencode", "", "x"])
        #expect(text.problems.contains("unknown Content-Transfer-Encoding 'x-uuencode', read as 8bit"))
    }
}
