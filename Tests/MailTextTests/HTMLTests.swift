import Testing
@testable import MailText

private func html(_ markup: String) -> String {
    extract(["Content-Type: text/html; charset=utf-8", "", markup]).body
}

@Suite struct HTMLTests {
    @Test func dropsScriptsStylesAndComments() {
        let markup = """
            <html><head><style type="text/css">p { color: red }</style>\
            <script>if (a < b) document.write("</p>")</script></head>\
            <body>Vi<!-- hidden -->agra <SCRIPT language=x>evil()</SCRIPT>now</body></html>
            """
        #expect(html(markup) == "Viagra now")
    }

    @Test func plainTextThatIsAnHTMLDocumentIsReadAsHTML() {
        func plain(_ body: String) -> String { extract(["Content-Type: text/plain", "", body]).body }
        #expect(plain("<HTML><body><p>Buy <b>now</b></p></body></html>") == "Buy now")
        // Internet Explorer's and Word's saved pages begin with a comment; Eudora wraps HTML in <x-html>.
        #expect(plain("<!-- saved from url=(0022)http://internet.e-mail -->\n<html><body>Profit <i>from</i> boomers</body></html>") == "Profit from boomers")
        #expect(plain("<x-html>\n<html><head><title>Offer</title></head><body>Second chance</body></html>") == "Offer\nSecond chance")
        // Plain text that merely contains markup, or a comment that never closes, stays as it is.
        #expect(plain("Write <html> at the top of the file.") == "Write <html> at the top of the file.")
        #expect(plain("<!-- never closed <html><body>x</body></html>") == "<!-- never closed <html><body>x</body></html>")
        #expect(plain("<b>bold</b> claims") == "<b>bold</b> claims")
    }

    @Test func removesTagsAndBreaksBlocks() {
        let markup = "<p>one <b>bold</b> <a href=\"x>y\" title='a>b'>link</a></p><div>two<br/>three</div><ul><li>four</li></ul>"
        #expect(html(markup) == "one bold link\ntwo\nthree\nfour")
    }

    @Test func tableCellsAreSeparated() {
        #expect(html("<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>") == "a b\nc")
    }

    @Test func sourceLineEndsAreBlanks() {
        #expect(html("a\nsentence\r\nacross lines<br>next") == "a sentence across lines\nnext")
    }

    @Test func decodesNamedAndNumericReferences() {
        #expect(html("&lt;tag&gt; &amp; &quot;q&quot; &apos;s&apos; caf&eacute; &euro;5 &hearts; &Omega;") == "<tag> & \"q\" 's' café €5 ♥ Ω")
        #expect(html("&#72;&#x69;&#X21; &#128512; &#x80; &#0; &#xD800; &#99999999999;") == "Hi! 😀 € \u{FFFD} \u{FFFD} \u{FFFD}")
        #expect(html("a&nbsp;&nbsp;b&nbspc") == "a b c")
    }

    @Test func leavesUnknownAndBrokenReferences() {
        #expect(html("AT&T &bogus; &#; &#x; & x") == "AT&T &bogus; &#; &#x; & x")
        // Legacy names need no `;` and match as a prefix, as in browsers.
        #expect(html("&copyright &ampx &notanentity;") == "©right &x ¬anentity;")
    }

    @Test func theWholeHTML4EntitySetIsKnown() {
        // 252 names of HTML 4.01, plus &apos; and the upper-case legacy spellings.
        #expect(HTMLEntities.values.count == 253 + 6)
        #expect(HTMLEntities.values["yuml"] == 0xFF)
        #expect(HTMLEntities.values["diams"] == 0x2666)
    }

    @Test func textThatLooksLikeMarkup() {
        #expect(html("1 < 2 and 3 > 2, x <= y") == "1 < 2 and 3 > 2, x <= y")
    }

    @Test func unterminatedConstructsRunToTheEnd() {
        #expect(html("before<!-- never closed") == "before")
        #expect(html("before<script>never closed") == "before")
        #expect(html("before<a href=\"never closed>after") == "before")
    }

    @Test func invisibleCharactersAreDropped() {
        #expect(html("V\u{200B}i&shy;a\u{FEFF}gra") == "Viagra")
    }
}
