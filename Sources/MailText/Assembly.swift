extension ExtractedText {
    /// Renders what the parser kept: charsets decoded, HTML turned to text, whitespace folded,
    /// alternatives chosen, header lines formatted, everything cut to `maxTextCharacters`.
    init(parsed parser: MessageParser) {
        let options = parser.options
        var problems = parser.problems
        let top = parser.topHeaders
        let topType = top[.contentType].map(HeaderValue.init)
        let charsetLabel = topType?.parameter("charset", problems: &problems)
        // Raw 8-bit header bytes are most likely in the charset of the message's own text.
        let topCharset = Charset(label: charsetLabel)

        func text(of field: HeaderField) -> String? {
            guard let raw = top[field] else { return nil }
            return WhitespaceFolder.foldLine(EncodedWords.decode(raw, fallback: topCharset, problems: &problems))
        }

        var headerLines: [String] = []
        for (_, option) in HeaderSelection.allCases where options.headers.contains(option) {
            switch option {
            case .from: headerLines.append("From: " + (text(of: .from) ?? ""))
            case .to: headerLines.append("To: " + (text(of: .to) ?? ""))
            case .cc: headerLines.append("Cc: " + (text(of: .cc) ?? ""))
            case .replyTo: headerLines.append("Reply-To: " + (text(of: .replyTo) ?? ""))
            case .date: headerLines.append("Date: " + (text(of: .date) ?? ""))
            case .messageID: headerLines.append("Message-ID: " + (text(of: .messageID) ?? ""))
            case .mailer: headerLines.append("X-Mailer: " + (text(of: .xMailer) ?? text(of: .userAgent) ?? ""))
            case .contentType:
                var value = topType?.token ?? ""
                if let label = charsetLabel { value += "; charset=" + WhitespaceFolder.foldLine(label.lowercased()) }
                headerLines.append("Content-Type: " + value)
            case .receivedCount: headerLines.append("Received-Count: \(top.receivedCount)")
            case .received: break   // after the body, below
            default: preconditionFailure("HeaderSelection.allCases lists an option with no header line")
            }
        }
        let subject = text(of: .subject) ?? ""

        let arena = parser.arena.bytes
        let leafTexts = parser.tree.leaves.map { Self.render($0, arena: arena, problems: &problems) }
        var body = parser.tree.body(leafTexts: leafTexts)

        var head = headerLines + ["Subject: " + subject]
        if !parser.attachmentNames.isEmpty {
            head.append("Attachments: " + parser.attachmentNames.joined(separator: ", "))
        }
        let headText = head.joined(separator: "\n") + "\n\n"
        let headScalars = headText.unicodeScalars.count
        // The Received chain goes after the body, out of the way of the model's window; the body makes room for it.
        let receivedLines = options.headers.contains(.received)
            ? top.received.map(ReceivedChain.hop).filter { !$0.isEmpty }.map { "Received: " + $0 } : []
        let receivedText = receivedLines.joined(separator: "\n")
        let tailScalars = receivedLines.isEmpty ? 0 : 2 + receivedText.unicodeScalars.count   // "\n\n" before it

        var truncated = parser.arena.overflowed || parser.structureTruncated
        let room = max(0, options.maxTextCharacters - headScalars - tailScalars)
        if ScalarCount.of(body) > room {
            body.removeSubrange(ScalarCount.prefixLength(body, scalars: room)...)
            while body.last == 0x20 || body.last == 0x0A { body.removeLast() }
            truncated = true
        }
        let bodyText = String(decoding: body, as: UTF8.self)
        let gap = receivedLines.isEmpty || bodyText.isEmpty ? "" : "\n\n"
        var classificationText = headText + bodyText + gap + receivedText
        if headScalars + tailScalars > options.maxTextCharacters {
            classificationText = String(classificationText.unicodeScalars.prefix(options.maxTextCharacters))
            truncated = true
        }

        self.init(
            subject: subject,
            headerLines: headerLines,
            body: bodyText,
            receivedLines: receivedLines,
            attachmentNames: parser.attachmentNames,
            classificationText: classificationText,
            truncated: truncated,
            problems: problems.entries
        )
    }

    /// One text part as folded UTF-8.
    private static func render(_ leaf: TextTree.Leaf, arena: [UInt8], problems: inout ProblemLog) -> [UInt8] {
        guard !leaf.bytes.isEmpty else { return [] }
        return arena[leaf.bytes].withUnsafeBufferPointer { raw in
            let isHTML = leaf.isHTML || looksLikeHTML(raw)
            func fold(_ utf8: UnsafeBufferPointer<UInt8>) -> [UInt8] {
                guard isHTML else { return WhitespaceFolder.fold(utf8, keepsLines: true) }
                return HTMLText.text(from: utf8).withUnsafeBufferPointer { WhitespaceFolder.fold($0, keepsLines: true) }
            }
            if let converted = TextDecoder.utf8(raw, charset: leaf.charset, problems: &problems) {
                return converted.withUnsafeBufferPointer(fold)
            }
            return fold(raw)
        }
    }

    /// Plain text that is an HTML document: senders that omit the Content-Type, or lie in it.
    /// Reading it as HTML spares the model a screenful of markup. What may come before the document's first tag:
    /// blanks, comments (`<!-- saved from url=… -->`, as Internet Explorer and Word save pages) and Eudora's
    /// `<x-html>` wrapper, within the first `htmlSniffLimit` bytes.
    private static func looksLikeHTML(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        let bytes = UnsafeBufferPointer(rebasing: text[..<min(text.count, htmlSniffLimit)])
        func lowercased(at start: Int, count: Int) -> [UInt8] { bytes[start..<min(bytes.count, start + count)].map { $0 | 0x20 } }
        var start = 0
        while true {
            while start < bytes.count, bytes[start] <= 0x20 { start += 1 }
            if lowercased(at: start, count: 8).elementsEqual("<x-html>".utf8) {
                start += 8
            } else if lowercased(at: start, count: 4).elementsEqual("<!--".utf8) {
                guard let end = HTMLText.find(bytes, "-->", from: start + 4) else { return false }
                start = end + 3
            } else {
                break
            }
        }
        let head = lowercased(at: start, count: 14)
        return ["<html", "<!doctype html", "<head", "<body"].contains { head.starts(with: $0.utf8) }
    }

    private static let htmlSniffLimit = 2048
}
