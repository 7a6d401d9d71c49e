import Foundation
import Testing
@testable import MailText

@Suite struct OutputTests {
    @Test func foldsWhitespaceAndKeepsSingleLineBreaks() {
        let text = extract(["Subject:   lots \t of   space  ", "", "  a \t b  ", "", "", "\tc\u{0}d\u{7}e", "   ", "f\u{3000}g\u{A0}h"])
        #expect(text.subject == "lots of space")
        #expect(text.body == "a b\nc d e\nf g h")
    }

    @Test func capsTheTextAndSaysSo() {
        let body = String(repeating: "word ", count: 100)
        let options = ExtractionOptions(maxTextCharacters: 30)
        let text = extract(["Subject: ünïcödé", "", body], options: options)
        #expect(text.classificationText.unicodeScalars.count == 30)
        #expect(text.classificationText == "Subject: ünïcödé\n\nword word wo")
        #expect(text.body == "word word wo")
        #expect(text.truncated)
        #expect(!extract(["Subject: s", "", "short"]).truncated)
    }

    @Test func aCapShorterThanTheHeaderLinesCutsThemToo() {
        let text = extract(["Subject: a rather long subject", "", "body"], options: ExtractionOptions(maxTextCharacters: 12))
        #expect(text.classificationText == "Subject: a r")
        #expect(text.body == "")
        #expect(text.truncated)
    }

    @Test func capsTheDecodedBodyBytes() {
        let options = ExtractionOptions(maxBodyBytes: 10)
        let text = extract(["Subject: s", "", "0123456789abcdef"], options: options)
        #expect(text.body == "0123456789")
        #expect(text.truncated)
    }

    @Test func optionsRoundTripThroughJSON() throws {
        let options = ExtractionOptions(maxBodyBytes: 4096, maxTextCharacters: 512, headers: [.from, .receivedCount], maxNestingDepth: 8, maxParts: 50)
        let json = try JSONEncoder().encode(options)
        #expect(try JSONDecoder().decode(ExtractionOptions.self, from: json) == options)
        #expect(String(decoding: json, as: UTF8.self).contains("[\"from\",\"received-count\"]"))
    }

    @Test func optionsDecodeWithMissingFieldsAsDefaults() throws {
        let options = try JSONDecoder().decode(ExtractionOptions.self, from: Data(#"{"headers":["to"]}"#.utf8))
        #expect(options == ExtractionOptions(headers: .to))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ExtractionOptions.self, from: Data(#"{"headers":["bogus"]}"#.utf8))
        }
    }

    @Test func headerSelectionParsesLists() throws {
        #expect(try HeaderSelection(parsing: "from, Reply-To,received-count") == [.from, .replyTo, .receivedCount])
        #expect(try HeaderSelection(parsing: "all") == .all)
        #expect(try HeaderSelection(parsing: "none") == [])
        #expect(try HeaderSelection(parsing: "") == [])
        #expect(throws: HeaderSelectionError.self) { try HeaderSelection(parsing: "from,subjcet") }
        #expect(HeaderSelection.all.description == "from,to,cc,reply-to,date,message-id,x-mailer,content-type,received-count,received")
        #expect(HeaderSelection.classifierDefault.description == "from,to,cc,reply-to,message-id,x-mailer,content-type,received-count,received")
    }
}
