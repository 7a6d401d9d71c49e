import Testing
@testable import MailText

@Suite struct HeaderTests {
    @Test func unfoldsFoldedSubject() {
        let text = extract(["Subject: a long", "\tsubject", "   folded twice", "", "body"])
        #expect(text.subject == "a long subject folded twice")
        #expect(text.classificationText == "Subject: a long subject folded twice\n\nbody")
    }

    @Test(arguments: ["\r\n", "\n"])
    func readsEitherLineEnd(lineEnd: String) {
        let text = extract(["From: a@b", "Subject: hi", "", "one", "two"], lineEnd: lineEnd)
        #expect(text.subject == "hi")
        #expect(text.body == "one\ntwo")
    }

    @Test func decodesBase64AndQEncodedWords() {
        #expect(extract(["Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?=", "", ""]).subject == "Hello Wörld")
        #expect(extract(["Subject: =?iso-8859-1?q?caf=E9_cr=e8me?=", "", ""]).subject == "café crème")
    }

    @Test func dropsWhitespaceBetweenAdjacentEncodedWordsOnly() {
        let text = extract(["Subject: =?utf-8?q?a?= =?utf-8?q?b?=", "\t=?utf-8?q?c?= d =?utf-8?q?e?=", "", ""])
        #expect(text.subject == "abc d e")
    }

    @Test func joinsAMultibyteCharacterSplitAcrossWords() {
        // "ü" is C3 BC; each word carries one byte of it.
        #expect(extract(["Subject: =?UTF-8?B?w6E=?= =?UTF-8?B?ww==?= =?UTF-8?B?vA==?=", "", ""]).subject == "áü")
    }

    @Test func decodesEncodedWordsInAnyCharset() {
        // GB2312 中文, KOI8-R Привет, Shift_JIS 日本語
        #expect(extract(["Subject: =?gb2312?B?1tDOxA==?=", "", ""]).subject == "中文")
        #expect(extract(["Subject: =?koi8-r?Q?=F0=D2=C9=D7=C5=D4?=", "", ""]).subject == "Привет")
        #expect(extract(["Subject: =?Shift_JIS?B?k/qWe4zq?=", "", ""]).subject == "日本語")
        #expect(extract(["Subject: =?utf-8*en?q?lang_tag?=", "", ""]).subject == "lang tag")
    }

    @Test func leavesMalformedEncodedWordsAlone() {
        let subject = "=?utf-8?x?abc?= =?utf-8?q?no end =? x"
        #expect(extract(["Subject: " + subject, "", ""]).subject == subject)
    }

    @Test func readsRaw8BitHeadersInTheMessageCharset() {
        let gb = Array("Subject: ".utf8) + hex("d6d0cec4") + Array("\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n".utf8)
        #expect(MailText.extract(gb).subject == "中文")
        let latin = MailText.extract(Array("Subject: ".utf8) + [0x63, 0x61, 0x66, 0xE9] + Array("\r\n\r\n".utf8))
        #expect(latin.subject == "café")
        #expect(latin.problems.contains("8-bit bytes in a header"))
    }

    @Test func keepsTheFirstOfRepeatedFields() {
        let text = extract(["Subject: first", "Subject: second", "", "x"])
        #expect(text.subject == "first")
        #expect(text.problems.contains("repeated Subject header; the first is used"))
    }

    @Test func toleratesMalformedHeaderSections() {
        let text = extract([
            " continuation with nothing before it", "X-Empty:", "Weird-Name  : spaced", "Subject: ok", "", "body",
        ])
        #expect(text.subject == "ok")
        #expect(text.body == "body")
        #expect(text.problems.contains("header continuation line with no field before it"))
    }

    @Test func aLineThatIsNoFieldStartsTheBody() {
        let text = extract(["Subject: s", "this is body text", "more"])
        #expect(text.subject == "s")
        #expect(text.body == "this is body text\nmore")
    }

    @Test func skipsAnMboxFromLine() {
        let text = extract(["From someone@example.com  Thu Aug 22 13:17:22 2002", "Subject: s", "", "b"])
        #expect(text.subject == "s")
        #expect(text.body == "b")
    }

    @Test func aMessageWithoutBody() {
        #expect(extract(["Subject: only headers"]).classificationText == "Subject: only headers\n\n")
        #expect(MailText.extract([UInt8]()).classificationText == "Subject: \n\n")
    }

    @Test func formatsSelectedHeaderLinesInFixedOrder() {
        let message = [
            "Received: from a", "Received: from b", "Content-Type: text/plain; charset=ISO-8859-1",
            "Subject: s", "To: you@example.com", "X-Mailer: Mailer 1.0",
            "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>", "Message-ID: <id@x>", "", "b",
        ]
        let options = ExtractionOptions(headers: [.receivedCount, .mailer, .to, .from, .cc, .contentType])
        let text = extract(message, options: options)
        #expect(text.headerLines == [
            "From: Jörg <jorg@example.com>", "To: you@example.com", "Cc: ", "X-Mailer: Mailer 1.0",
            "Content-Type: text/plain; charset=iso-8859-1", "Received-Count: 2",
        ])
        #expect(text.classificationText.hasPrefix("From: Jörg <jorg@example.com>\nTo: you@example.com\n"))
        #expect(text.classificationText.hasSuffix("Received-Count: 2\nSubject: s\n\nb"))
    }

    @Test func everySelectableHeader() {
        let message = [
            "From: f", "To: t", "Cc: c", "Reply-To: r", "Date: d", "Message-ID: m", "User-Agent: u",
            "Content-Type: multipart/mixed; boundary=x", "Subject: s", "", "--x", "", "b", "--x--",
        ]
        let text = extract(message, options: ExtractionOptions(headers: .all))
        #expect(text.headerLines == [
            "From: f", "To: t", "Cc: c", "Reply-To: r", "Date: d", "Message-ID: m", "X-Mailer: u",
            "Content-Type: multipart/mixed", "Received-Count: 0",
        ])
    }

    @Test func receivedChainComesAfterTheBodyWithoutDatesOrQueueIDs() {
        let message = [
            "Received: from mx.example.org ([192.0.2.1])", "\tby mail.example.net (Postfix) with ESMTP id 4F2A1",
            "\tfor <a@example.net>; Tue, 8 Dec 2026 01:02:03 +0000",
            "Subject: s", "Received: (qmail 5679 invoked by uid 501); 7 Dec 2026 23:00:00 -0000", "", "b",
        ]
        let text = extract(message, options: ExtractionOptions(headers: [.from, .received]))
        #expect(text.receivedLines == [
            "Received: from mx.example.org ([192.0.2.1]) by mail.example.net (Postfix) with ESMTP for <a@example.net>",
            "Received: (qmail 5679 invoked by uid 501)",
        ])
        #expect(text.headerLines == ["From: "])
        #expect(text.classificationText == "From: \nSubject: s\n\nb\n\n" + text.receivedLines.joined(separator: "\n"))
        #expect(extract(message).receivedLines.isEmpty)
    }

    @Test func receivedChainKeepsTheNewestHopsAndCountsThemAll() {
        let hops = (0..<12).map { "Received: from h\($0) by relay; Mon, 7 Dec 2026" }
        let text = extract(hops + ["Subject: s", ""], options: ExtractionOptions(headers: [.receivedCount, .received]))
        #expect(text.headerLines == ["Received-Count: 12"])
        #expect(text.receivedLines == (0..<EntityHeaders.receivedLimit).map { "Received: from h\($0) by relay" })
        #expect(text.classificationText.hasPrefix("Received-Count: 12\nSubject: s\n\nReceived: from h0 by relay\n"))
    }

    @Test func theBodyMakesRoomForTheReceivedChain() {
        let longHop = "Received: from " + String(repeating: "x", count: 400)
        let options = ExtractionOptions(maxTextCharacters: 100, headers: .received)
        let text = extract([longHop, "Subject: s", "", String(repeating: "body ", count: 100)], options: options)
        let hop = "Received: from " + String(repeating: "x", count: ReceivedChain.hopLimit - 5)
        #expect(text.receivedLines == [hop])
        #expect(text.truncated)
        // The hop alone is longer than the cap: the text is cut at the cap, the body first.
        #expect(text.body.isEmpty)
        #expect(text.classificationText.unicodeScalars.count == 100)
        let roomy = extract(["Received: from a by b", "Subject: s", "", String(repeating: "body ", count: 100)],
                            options: ExtractionOptions(maxTextCharacters: 100, headers: .received))
        #expect(roomy.classificationText.hasSuffix("\n\nReceived: from a by b"))
        #expect(roomy.classificationText.unicodeScalars.count <= 100)
        #expect(roomy.body.hasPrefix("body body"))
    }

    @Test func receivedChainFromAnMTAMatchesTheRawMessage() {
        let fields = [("Received", "from a.example ([192.0.2.7])\r\n\tby b.example id Q1; Tue, 8 Dec 2026"), ("Subject", "s")]
        var reader = MessageReader(options: ExtractionOptions(headers: .received))
        for (name, value) in fields { reader.header(name: name, value: Array(value.utf8)) }
        reader.endOfHeaders()
        reader.body(Array("b".utf8))
        let whole = extract(["Received: from a.example ([192.0.2.7])", "\tby b.example id Q1; Tue, 8 Dec 2026", "Subject: s", "", "b"],
                            options: ExtractionOptions(headers: .received))
        #expect(reader.finish() == whole)
        #expect(whole.receivedLines == ["Received: from a.example ([192.0.2.7]) by b.example"])
    }
}
