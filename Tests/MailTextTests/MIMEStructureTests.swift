import Testing
@testable import MailText

@Suite struct MIMEStructureTests {
    @Test func noMIMEHeadersMeansPlainText() {
        #expect(extract(["Subject: s", "", "just text", "", "", "more"]).body == "just text\nmore")
    }

    @Test func multipartMixedSkipsPreambleAndEpilogue() {
        let text = extract([
            "Subject: s", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"b1\"", "",
            "This is a multi-part message in MIME format.",
            "--b1", "Content-Type: text/plain", "", "first part",
            "--b1", "", "second part, default type",
            "--b1--", "epilogue text",
        ])
        #expect(text.body == "first part\nsecond part, default type")
        #expect(text.problems.isEmpty)
    }

    @Test func alternativeKeepsThePartWithMoreText() {
        func message(plain: String, html: String) -> [String] {
            [
                "Content-Type: multipart/alternative; boundary=alt", "",
                "--alt", "Content-Type: text/plain; charset=us-ascii", "", plain,
                "--alt", "Content-Type: text/html", "", html,
                "--alt--",
            ]
        }
        #expect(extract(message(plain: "short", html: "<p>the html part says more</p>")).body == "the html part says more")
        #expect(extract(message(plain: "the plain part says more", html: "<p>short</p>")).body == "the plain part says more")
        // A tie goes to the later part, the sender's preferred one.
        #expect(extract(message(plain: "same", html: "<b>SAME</b>")).body == "SAME")
        // Only an empty plain part: "click the image" spam.
        #expect(extract(message(plain: "", html: "<img src=x>Buy now")).body == "Buy now")
    }

    @Test func nestedMultiparts() {
        let text = extract([
            "Content-Type: multipart/mixed; boundary=outer", "",
            "--outer", "Content-Type: multipart/related; boundary=\"rel\"", "",
            "--rel", "Content-Type: multipart/alternative; boundary=alt", "",
            "--alt", "Content-Type: text/plain", "", "plain version",
            "--alt", "Content-Type: text/html", "", "<div>html version, longer</div>",
            "--alt--",
            "--rel", "Content-Type: image/png", "Content-Transfer-Encoding: base64", "", "iVBORw0KGgo=",
            "--rel--",
            "--outer", "Content-Type: text/plain", "", "footer",
            "--outer--",
        ])
        #expect(text.body == "html version, longer\nfooter")
        #expect(text.problems.isEmpty)
    }

    @Test func attachedMessageIsRead() {
        let text = extract([
            "Subject: Fwd: look", "Content-Type: multipart/mixed; boundary=m", "",
            "--m", "", "see below",
            "--m", "Content-Type: message/rfc822", "",
            "Subject: =?utf-8?q?inner_subj=C3=A9ct?=", "Content-Type: text/html", "", "<p>inner body</p>",
            "--m--",
        ])
        #expect(text.subject == "Fwd: look")
        #expect(text.body == "see below\nSubject: inner subjéct\ninner body")
    }

    @Test func digestPartsDefaultToMessages() {
        let text = extract([
            "Content-Type: multipart/digest; boundary=d", "",
            "--d", "", "Subject: one", "", "first",
            "--d", "", "Subject: two", "", "second",
            "--d--",
        ])
        #expect(text.body == "Subject: one\nfirst\nSubject: two\nsecond")
    }

    @Test func missingClosingBoundaries() {
        let text = extract([
            "Content-Type: multipart/mixed; boundary=outer", "",
            "--outer", "Content-Type: multipart/alternative; boundary=inner", "",
            "--inner", "", "inner text, never closed",
            "--outer", "", "after the outer boundary",
        ])
        #expect(text.body == "inner text, never closed\nafter the outer boundary")
        #expect(text.problems.contains("closing boundary missing before an outer boundary"))
        #expect(text.problems.contains("closing boundary missing at the end of the message"))
    }

    @Test func boundaryWithOddCharactersAndTrailingBlanks() {
        let boundary = "----=_NextPart_000_0001_01C2.4B5F(x)+,./:=? y"
        let text = extract([
            "Content-Type: multipart/mixed;", "\tboundary=\"\(boundary)\"", "",
            "--\(boundary)  ", "", "one",
            "--\(boundary)-- \t",
        ])
        #expect(text.body == "one")
        #expect(text.problems.isEmpty)
    }

    @Test func similarLinesAreNotBoundaries() {
        let text = extract([
            "Content-Type: multipart/mixed; boundary=abc", "",
            "--abc", "", "-- ", "--abcd", "--ab", "-abc", " --abc", "kept",
            "--abc--",
        ])
        #expect(text.body == "--\n--abcd\n--ab\n-abc\n--abc\nkept")
    }

    @Test func wrongBoundaryKeepsTheBodyAsText() {
        let text = extract([
            "Content-Type: multipart/alternative; boundary=\"declared\"", "",
            "--something-else", "", "the only text",
        ])
        #expect(text.body.contains("the only text"))
        #expect(text.problems.contains("multipart boundary never found; its body read as text"))
    }

    @Test func boundaryDeclaredWithDifferentBlanksIsFound() {
        let text = extract([
            "Content-Type: multipart/alternative; boundary=\"=Multipart Boundary 0925\"", "",
            "--= Multipart Boundary 0925", "Content-Type: text/plain", "", "found it",
            "--= Multipart Boundary 0925--",
        ])
        #expect(text.body == "found it")
    }

    @Test func missingBoundaryParameterIsInferred() {
        let text = extract([
            "Content-Type: multipart/mixed", "", "preamble",
            "--guess", "", "part text",
            "--guess--",
        ])
        #expect(text.body == "part text")
        #expect(text.problems.contains("multipart without boundary parameter"))
    }

    @Test func partWithoutHeaderSeparator() {
        let text = extract([
            "Content-Type: multipart/mixed; boundary=b", "",
            "--b", "Content-Type: text/plain", "no blank line before this",
            "--b--",
        ])
        #expect(text.body == "no blank line before this")
    }

    @Test func malformedContentTypeIsPlainText() {
        #expect(extract(["Content-Type: garbage", "", "text"]).body == "text")
        #expect(extract(["Content-Type: text / html", "", "<b>bold</b>"]).body == "bold")
        let missingSemicolon = raw(headers: ["Content-Type: text/plain charset=koi8-r"], body: hex("f0d2c9d7c5d4"))
        #expect(MailText.extract(missingSemicolon).body == "Привет")
    }

    @Test func truncatedMessageEndsCleanly() {
        let text = extract([
            "Content-Type: multipart/mixed; boundary=b", "",
            "--b", "Content-Type: text/plain", "Content-Transfer-Encoding: base64", "", "SGVsbG8gd29y",
        ])
        #expect(text.body == "Hello wor")
    }

    @Test func htmlWithoutContentTypeIsRecognised() {
        #expect(extract(["Subject: s", "", "  <HTML><body>Hi <b>there</b></body></html>"]).body == "Hi there")
    }
}
