import Testing
@testable import MailText

/// Properties every extraction must have, whatever the input.
private func checkInvariants(_ text: ExtractedText, options: ExtractionOptions = .default) {
    #expect(text.classificationText.unicodeScalars.count <= options.maxTextCharacters)
    #expect(!text.body.contains("\n\n") && !text.body.contains("  ") && !text.body.contains(" \n") && !text.body.contains("\n "))
    // By scalar: a combining mark after a space makes a Character that counts as whitespace.
    #expect(text.body.unicodeScalars.first?.properties.isWhitespace != true)
    #expect(text.body.unicodeScalars.last?.properties.isWhitespace != true)
    #expect(!text.subject.contains("\n"))
    #expect(text.problems.count <= ProblemLog.limit)
}

private func seconds(_ work: () -> Void) -> Double {
    let elapsed = ContinuousClock().measure(work)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
}

@Suite struct HostileInputTests {
    @Test func randomBytes() {
        var generator = SeededGenerator(seed: 1)
        for size in [0, 1, 100, 10_000, 1 << 20] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let whole = MailText.extract(bytes)
            checkInvariants(whole)
            #expect(readRawIncrementally(bytes, maxChunk: 5000, using: &generator) == whole)
        }
    }

    @Test func everyTruncationOfAMessage() {
        let message = sampleMessages[1]
        var generator = SeededGenerator(seed: 2)
        for end in stride(from: 0, through: message.count, by: 7) {
            let cut = Array(message[..<end])
            let whole = MailText.extract(cut)
            checkInvariants(whole)
            #expect(readRawIncrementally(cut, maxChunk: 50, using: &generator) == whole)
        }
    }

    @Test func tenThousandNestedMultiparts() {
        var lines = ["Subject: deep", "Content-Type: multipart/mixed; boundary=b0", "", "--b0", "", "top text"]
        for level in 1...10_000 {
            lines += ["--b\(level - 1)", "Content-Type: multipart/mixed; boundary=b\(level)", "", "--b\(level)", "", "level \(level)"]
        }
        for level in (0...10_000).reversed() { lines.append("--b\(level)--") }
        lines += ["after"]
        var text = ExtractedText(subject: "", headerLines: [], body: "", attachmentNames: [], classificationText: "", truncated: false, problems: [])
        #expect(seconds { text = extract(lines) } < 10)
        #expect(text.body.hasPrefix("top text\nlevel 1\nlevel 2\n"))
        #expect(text.body.contains("level 30\n") && !text.body.contains("level 40"))
        #expect(text.problems.contains("MIME nesting deeper than 32; deeper parts skipped"))
        #expect(text.truncated)
    }

    @Test func tenThousandNestedAttachedMessages() {
        var lines = ["Subject: deep"]
        for level in 1...10_000 { lines += ["Content-Type: message/rfc822", "", "Subject: level \(level)"] }
        lines += ["", "innermost"]
        let text = extract(lines)
        #expect(text.body.hasPrefix("Subject: level 1\nSubject: level 2\n"))
        #expect(!text.body.contains("innermost"))
        #expect(text.truncated)
    }

    @Test func hundredThousandParts() {
        var lines = ["Subject: many", "Content-Type: multipart/mixed; boundary=p", ""]
        for i in 0..<100_000 { lines += ["--p", "", "part \(i)"] }
        lines.append("--p--")
        var text = ExtractedText(subject: "", headerLines: [], body: "", attachmentNames: [], classificationText: "", truncated: false, problems: [])
        #expect(seconds { text = extract(lines) } < 10)
        #expect(text.body.hasPrefix("part 0\npart 1\n"))
        #expect(text.problems.contains("more than 1000 parts; the rest is ignored"))
        #expect(text.truncated)
    }

    @Test func fiftyMegabyteAttachmentStreamsThrough() {
        var reader = MessageReader()
        reader.header(name: "Subject", value: Array("big".utf8))
        reader.header(name: "Content-Type", value: Array("multipart/mixed; boundary=\"zz\"".utf8))
        reader.endOfHeaders()
        reader.body(Array("--zz\r\n\r\nbefore\r\n--zz\r\nContent-Type: application/octet-stream; name=big.iso\r\nContent-Transfer-Encoding: base64\r\n\r\n".utf8))
        let line = Array(String(repeating: "QUJD", count: 19).utf8) + [0x0D, 0x0A]
        let chunk = Array([[UInt8]](repeating: line, count: 64 * 1024 / line.count).joined())
        var peak = 0
        let time = seconds {
            for _ in 0..<(50 << 20) / chunk.count {
                chunk.withUnsafeBytes { reader.body($0) }
                peak = max(peak, reader.retainedBytes)
            }
        }
        reader.body(Array("--zz\r\n\r\nafter\r\n--zz--\r\n".utf8))
        let text = reader.finish()
        #expect(text.body == "before\nafter")
        #expect(text.attachmentNames == ["big.iso"])
        #expect(peak < 64 * 1024)
        #expect(time < 20)
    }

    @Test func megabyteHeaderLines() {
        let huge = String(repeating: "x", count: 1 << 20)
        let text = extract([
            "X-Junk: " + huge, "Subject: " + huge, "Content-Type: multipart/mixed; boundary=b", "",
            "--b", "Content-Type: text/plain; name=" + huge, "", "fine", "--b--",
        ])
        #expect(text.subject.count == EntityHeaders.valueLimit)
        #expect(text.body == "fine")
        #expect(text.problems.contains("Subject header longer than 16384 bytes cut"))
        #expect(text.problems.contains("Content-Type header longer than 16384 bytes cut"))
    }

    @Test func nulBytesAreBlanks() {
        let message = Array("Subject: a\0b\r\nContent-Type: text/html\r\n\r\n<p>c\0d</p>\0\0<b>e</b>".utf8)
        let text = MailText.extract(message)
        #expect(text.subject == "a b")
        #expect(text.body == "c d\ne")
    }

    /// Doubling a hostile input at most roughly doubles the time: no quadratic corner.
    @Test(arguments: ["boundary-like lines", "unclosed markup", "broken quoted-printable", "many small parts"])
    func timeGrowsLinearly(kind: String) {
        func message(_ n: Int) -> [UInt8] {
            switch kind {
            case "boundary-like lines":
                var lines: [String] = []
                for level in 0..<32 { lines += ["Content-Type: multipart/mixed; boundary=\"\(String(repeating: "b", count: 200))\(level)\"", "", "--\(String(repeating: "b", count: 200))\(level)"] }
                return raw(lines + Array(repeating: "--" + String(repeating: "b", count: 200) + "x", count: n / 200))
            case "unclosed markup":
                return raw(["Content-Type: text/html", "", String(repeating: "<p title='x' &#x41; &amp <a", count: n / 28)])
            case "broken quoted-printable":
                return raw(["Content-Transfer-Encoding: quoted-printable", ""] + Array(repeating: "= =\t=3 =G0 =41  \t=", count: n / 20))
            default:
                return raw(["Content-Type: multipart/mixed; boundary=p", ""] + Array(repeating: "--p\r\n\r\nx", count: n / 10))
            }
        }
        let small = message(1 << 17), large = message(1 << 19)
        // Both stay under maxBodyBytes, which would otherwise flatten the growth. Linear is 4×,
        // quadratic 16×; the margin absorbs a loaded machine.
        func best(_ bytes: [UInt8]) -> Double { (0..<5).map { _ in seconds { _ = MailText.extract(bytes) } }.min()! }
        let ratio = best(large) / best(small)
        #expect(ratio < 10, "4× the input took \(ratio)× the time")
    }

    /// Seeded mutations of the sample messages: no crash, the invariants hold, and chunked
    /// reading agrees with `extract`.
    @Test func mutationFuzz() {
        var generator = SeededGenerator(seed: 0x5EED)
        let tokens: [[UInt8]] = [
            "--", "\r\n", "\n", "\r", "=?utf-8?b?", "=?iso-2022-jp?q?=1B$B", "?=", "<!--", "<script>", "</", "&#x", "&",
            "=\r\n", "=", " ", "\t", "\0", "\u{FF}", "Content-Type: multipart/mixed; boundary=x\r\n", "--x\r\n", "--x--",
            "Content-Type: message/rfc822\r\n\r\n", "Content-Transfer-Encoding: base64\r\n", "charset=shift_jis",
            "filename*0*=utf-8''%E2", "--=_outer", "--inner--", ";", "\"",
        ].map { Array($0.utf8) }
        for iteration in 0..<3000 {
            var message = sampleMessages[iteration % sampleMessages.count]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let at = Int.random(in: 0...message.count, using: &generator)
                switch Int.random(in: 0..<5, using: &generator) {
                case 0 where at < message.count:
                    message[at] = UInt8.random(in: 0...255, using: &generator)
                case 1:
                    message.removeSubrange(at..<min(message.count, at + Int.random(in: 1...40, using: &generator)))
                case 2:
                    let end = min(message.count, at + Int.random(in: 1...200, using: &generator))
                    message.insert(contentsOf: message[at..<end], at: at)
                case 3:
                    message.insert(contentsOf: tokens.randomElement(using: &generator)!, at: at)
                default:
                    message.removeSubrange(at...)
                }
            }
            let options = ExtractionOptions(maxBodyBytes: 4096, maxTextCharacters: 2000, maxNestingDepth: 4, maxParts: 20)
            let whole = MailText.extract(message, options: options)
            checkInvariants(whole, options: options)
            let chunked = readRawIncrementally(message, options: options, maxChunk: 300, using: &generator)
            #expect(chunked == whole, "iteration \(iteration)")
            if chunked != whole { break }
        }
    }
}
