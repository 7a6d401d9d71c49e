import Testing
@testable import MailText

/// Hand-made messages that together use every feature; shared with the fuzz test.
let sampleMessages: [[UInt8]] = [
    raw(["Subject: plain", "", "Hello,", "", "just text.", "-- ", "sig"]),
    raw([
        "From: \"=?utf-8?q?J=C3=B6rg?=\" <j@example.com>", "Subject: =?utf-8?B?w6Rsw6R0?= =?utf-8?Q?_folded?=",
        "\tline", "Content-Type: multipart/mixed; boundary=\"=_outer\"", "",
        "preamble", "--=_outer", "Content-Type: multipart/alternative;", " boundary=inner", "",
        "--inner", "Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: quoted-printable", "",
        "caf=E9 cr=E8me soft=", "break =3D done", "--inner", "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: base64", "",
        "PGh0bWw+PGJvZHk+PHA+Q2Fmw6kgJmFtcDsgPGI+Y3LDqG1lPC9iPiBpbiB0aGUgSFRNTCBwYXJ0",
        "LCB3aGljaCBzYXlzIG1vcmU8L3A+PHNjcmlwdD54KCk8L3NjcmlwdD48L2JvZHk+PC9odG1sPg==",
        "--inner--", "--=_outer", "Content-Type: application/zip; name=\"a.zip\"", "Content-Transfer-Encoding: base64", "",
        "UEsDBBQAAAAIAA==", "--=_outer", "Content-Type: message/rfc822", "", "Subject: inner", "", "inner text",
        "--=_outer--", "epilogue",
    ]),
    raw(["Subject: LF only", "Content-Type: text/html", "", "<p>a&amp;b</p><div>c</div>"], lineEnd: "\n"),
    raw(headers: ["Subject: koi", "Content-Type: text/plain; charset=koi8-r"], body: hex("f0d2c9d7c5d4 0a f0d2c9d7c5d4")),
    raw(["Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.pdf", "", "x", "--b", "", String(repeating: "long line ", count: 600)]),
]

@Suite struct StreamingTests {
    @Test func incrementalReadingMatchesExtract() {
        var generator = SeededGenerator(seed: 2024)
        for (index, message) in sampleMessages.enumerated() {
            let whole = MailText.extract(message)
            for maxChunk in [1, 2, 7, 64, 4096] {
                for _ in 0..<5 {
                    let pieces = readIncrementally(message, maxChunk: maxChunk, using: &generator)
                    #expect(pieces == whole, "message \(index), chunks up to \(maxChunk)")
                }
            }
        }
    }

    @Test func sampleMessagesGiveTheExpectedText() {
        let texts = sampleMessages.map { MailText.extract($0, options: ExtractionOptions(headers: .from)) }
        #expect(texts[1].classificationText == """
            From: "Jörg" <j@example.com>
            Subject: älät folded line
            Attachments: a.zip

            Café & crème in the HTML part, which says more
            Subject: inner
            inner text
            """)
        #expect(texts[2].body == "a&b\nc")
        #expect(texts[3].body == "Привет\nПривет")
        #expect(texts[4].attachmentNames == ["€.pdf"])
        #expect(texts[4].body.count == 600 * 10 - 1)
    }

    @Test func readerHoldsNoMoreThanTheBodyCap() {
        let options = ExtractionOptions(maxBodyBytes: 64 * 1024)
        var reader = MessageReader(options: options)
        reader.header(name: "Content-Type", value: Array("multipart/mixed; boundary=b".utf8))
        reader.endOfHeaders()
        reader.body(Array("--b\r\nContent-Type: text/plain\r\n\r\n".utf8))
        let line = Array(String(repeating: "text ", count: 15).utf8) + [0x0D, 0x0A]
        var peak = 0
        for _ in 0..<20_000 { // 1.5 MB of text, then an attachment of as much
            line.withUnsafeBytes { reader.body($0) }
            peak = max(peak, reader.retainedBytes)
        }
        reader.body(Array("--b\r\nContent-Type: application/octet-stream\r\n\r\n".utf8))
        for _ in 0..<20_000 {
            line.withUnsafeBytes { reader.body($0) }
            peak = max(peak, reader.retainedBytes)
        }
        let text = reader.finish()
        #expect(peak <= options.maxBodyBytes + 8 * 1024)
        #expect(text.truncated)
        #expect(text.problems.contains("closing boundary missing at the end of the message"))
    }

    @Test func finishTwiceGivesTheSameText() {
        var reader = MessageReader()
        reader.header(name: "Subject", value: Array("s".utf8))
        reader.body(Array("body".utf8))
        let first = reader.finish()
        #expect(reader.finish() == first)
        #expect(first.classificationText == "Subject: s\n\nbody")
    }

    @Test func foldedHeaderValuesFromAnMTA() {
        var reader = MessageReader()
        reader.header(name: "subject", value: Array("=?utf-8?q?a?=\r\n =?utf-8?q?b?=\n\tc".utf8))
        reader.endOfHeaders()
        #expect(reader.finish().subject == "ab c")
    }

    @Test func headersAfterTheBodyAreIgnored() {
        var reader = MessageReader()
        reader.body(Array("text".utf8))
        reader.header(name: "Subject", value: Array("late".utf8))
        let text = reader.finish()
        #expect(text.subject == "")
        #expect(text.problems == ["header field given after the end of the headers"])
    }
}
