import Glibc

/// The MIME structure of a message, read line by line in one pass (RFC 2045–2049).
///
/// Keeps only what extraction needs: the top-level headers, the transfer-decoded bytes of text
/// parts (in a `TextArena` capped at `maxBodyBytes`), which text parts are alternatives of each
/// other (`TextTree`), and the file names of attachments. Attachment bodies are looked at only
/// for boundary lines, never stored or decoded.
///
/// Open multiparts form an explicit stack, capped at `maxNestingDepth`, and an attached message
/// only moves on to the next entity, so no input can make it recurse. A boundary line of an
/// outer multipart also closes the inner ones, so a lost closing boundary costs nothing.
struct MessageParser: LineSink, Sendable {
    let options: ExtractionOptions
    private(set) var problems = ProblemLog()
    private(set) var arena: TextArena
    private(set) var tree = TextTree()
    private(set) var attachmentNames: [String] = []
    /// Headers of the message itself, once its header section has ended.
    private(set) var topHeaders = EntityHeaders()
    /// Parts or levels were skipped for `maxParts` or `maxNestingDepth`.
    private(set) var structureTruncated = false

    private enum Phase {
        case headers
        case text
        /// Before the first boundary of the innermost multipart: kept as provisional text, which
        /// becomes the part's text if its boundary never appears.
        case preamble
        /// Attachment bodies, epilogues, entities past the depth limit.
        case skip
        /// Past `maxParts`: nothing more is looked at.
        case done
    }

    /// Where the entity now being read sits.
    private struct Entity {
        var depth: Int
        var parentNode: Int
        var isTop: Bool
        /// The body of a message/rfc822 part (so its Subject is part of the text).
        var isAttachedMessage: Bool
        /// A part of multipart/digest, whose default type is message/rfc822.
        var inDigest: Bool
    }

    private struct Multipart {
        var boundary: [UInt8]?
        var node: Int
        var depth: Int
        var isDigest: Bool
        /// Where the preamble's provisional text starts, until the first boundary line.
        var preamble: (mark: TextArena.Mark, leaf: Int)?
    }

    private struct OpenText {
        var leaf: Int
        var decoder: TransferDecoder
        var linesSeen = 0
    }

    private var phase = Phase.headers
    private var entity = Entity(depth: 0, parentNode: TextTree.root, isTop: true, isAttachedMessage: false, inDigest: false)
    private var headerBlock: HeaderBlock
    private var headers = EntityHeaders()
    private var multiparts: [Multipart] = []
    private var text: OpenText?
    private var partCount = 0

    /// `rawHeaders`: the header section arrives as lines like the body (a raw message), rather
    /// than field by field through `addTopHeader`.
    init(options: ExtractionOptions, rawHeaders: Bool) {
        self.options = options
        arena = TextArena(capacity: options.maxBodyBytes)
        headerBlock = HeaderBlock(startsRawMessage: rawHeaders)
    }

    var isReadingTopHeaders: Bool { phase == .headers && entity.isTop }

    /// Bytes held for the message so far, for tests of the memory bound.
    var retainedBytes: Int { arena.bytes.capacity + headerBlock.retainedBytes }

    // MARK: Input

    mutating func addTopHeader(name: String, value: some Collection<UInt8>) {
        guard isReadingTopHeaders else {
            problems.note("header field given after the end of the headers")
            return
        }
        var name = name
        guard let field = name.withUTF8({ HeaderField(name: $0) }) else {
            return
        }
        headers.add(field, foldedValue: value, problems: &problems)
    }

    mutating func endTopHeaders() {
        guard isReadingTopHeaders else { return }
        headerBlock.finish(headers: &headers, problems: &problems)
        endOfHeaders()
    }

    mutating func line(_ piece: UnsafeBufferPointer<UInt8>, first: Bool, last: Bool) {
        if phase == .done { return }
        if first, last, !multiparts.isEmpty, piece.count >= 2, piece[0] == UInt8(ascii: "-"), piece[1] == UInt8(ascii: "-") {
            if let (index, closes) = delimiter(piece) {
                boundaryLine(of: index, closes: closes)
                return
            }
            if phase == .preamble, let inferred = Self.inferredBoundary(piece, declared: multiparts[multiparts.count - 1].boundary) {
                problems.note("multipart boundary taken from its body: '\(String(decoding: inferred.prefix(70), as: UTF8.self))'")
                multiparts[multiparts.count - 1].boundary = inferred
                boundaryLine(of: multiparts.count - 1, closes: false)
                return
            }
        }
        content(piece, first: first)
    }

    /// Ends the message: closes whatever is open.
    mutating func finish() {
        if phase == .done { return }
        endEntity()
        if !multiparts.isEmpty {
            problems.note("closing boundary missing at the end of the message")
            multiparts.removeAll()
        }
        phase = .done
    }

    // MARK: Lines

    private mutating func content(_ piece: UnsafeBufferPointer<UInt8>, first: Bool) {
        while true {
            switch phase {
            case .headers:
                switch headerBlock.line(piece, first: first, headers: &headers, problems: &problems) {
                case .continues: return
                case .ended:
                    endOfHeaders()
                    return
                case .endedByBodyLine:
                    endOfHeaders()
                    continue // the line starts the body of whatever the headers declared
                }
            case .text, .preamble:
                if arena.isFull {
                    if !piece.isEmpty { arena.noteOverflow() }
                    return
                }
                if first {
                    if text!.linesSeen > 0 { text!.decoder.lineBreak(into: &arena) }
                    text!.linesSeen += 1
                }
                text!.decoder.decode(piece, into: &arena)
                return
            case .skip, .done:
                return
            }
        }
    }

    /// The open multipart (index into `multiparts`) whose boundary `line` is, innermost first,
    /// and whether it is the closing one (`--boundary--`). Trailing blanks are allowed.
    private func delimiter(_ line: UnsafeBufferPointer<UInt8>) -> (Int, closes: Bool)? {
        var length = line.count
        while length > 2, line[length - 1] == 0x20 || line[length - 1] == 0x09 { length -= 1 }
        let body = UnsafeBufferPointer(rebasing: line[2..<length])
        for index in multiparts.indices.reversed() {
            guard let boundary = multiparts[index].boundary else { continue }
            if body.count == boundary.count, Self.startsWith(body, boundary) { return (index, false) }
            if body.count == boundary.count + 2, Self.startsWith(body, boundary),
                body[body.count - 2] == UInt8(ascii: "-"), body[body.count - 1] == UInt8(ascii: "-")
            {
                return (index, true)
            }
        }
        return nil
    }

    private static func startsWith(_ bytes: UnsafeBufferPointer<UInt8>, _ prefix: [UInt8]) -> Bool {
        prefix.withUnsafeBufferPointer { memcmp(bytes.baseAddress!, $0.baseAddress!, $0.count) == 0 } // both non-empty
    }

    /// The boundary a preamble line shows when the declared one has not turned up: with no
    /// declared boundary, any line that looks like one; else a line that matches it once blanks
    /// are ignored (`boundary="=Part 1"` used as `--= Part 1`).
    private static func inferredBoundary(_ line: UnsafeBufferPointer<UInt8>, declared: [UInt8]?) -> [UInt8]? {
        var candidate = Array(line[2...])
        while let last = candidate.last, last == 0x20 || last == 0x09 { candidate.removeLast() }
        guard (1...Self.boundaryLimit).contains(candidate.count) else { return nil }
        if let declared {
            let isBlank = { (c: UInt8) in c == 0x20 || c == 0x09 }
            return candidate.filter { !isBlank($0) }.elementsEqual(declared.lazy.filter { !isBlank($0) }) ? candidate : nil
        }
        guard candidate.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), !candidate.allSatisfy({ $0 == UInt8(ascii: "-") })
        else { return nil }
        return candidate
    }

    /// RFC 2046 allows 70; real mail goes somewhat past that.
    private static let boundaryLimit = 256

    private mutating func boundaryLine(of index: Int, closes: Bool) {
        let innermost = multiparts.count - 1
        if index == innermost, phase == .preamble, let preamble = multiparts[index].preamble {
            // The boundary is real, so the preamble was only the "This is a MIME message" note.
            arena.rollBack(to: preamble.mark)
            tree.setEnd(ofLeaf: preamble.leaf, to: 0)
            text = nil
        } else {
            endEntity()
        }
        if index < multiparts.count - 1 {
            problems.note("closing boundary missing before an outer boundary")
            multiparts.removeSubrange((index + 1)...)
        }
        multiparts[index].preamble = nil
        if closes {
            multiparts.removeLast()
            phase = .skip // the epilogue
            return
        }
        partCount += 1
        guard partCount <= options.maxParts else {
            problems.note("more than \(options.maxParts) parts; the rest is ignored")
            structureTruncated = true
            phase = .done
            return
        }
        let parent = multiparts[index]
        entity = Entity(depth: parent.depth + 1, parentNode: parent.node, isTop: false, isAttachedMessage: false, inDigest: parent.isDigest)
        startHeaders()
    }

    private mutating func startHeaders() {
        headers = EntityHeaders()
        headerBlock = HeaderBlock(startsRawMessage: false)
        phase = .headers
    }

    // MARK: Entities

    /// Decides from an entity's headers what its body is and gets ready to read it.
    private mutating func endOfHeaders() {
        if entity.isTop { topHeaders = headers }
        let type = headers[.contentType].map(HeaderValue.init)
        var mediaType = type?.token ?? ""
        if !mediaType.isEmpty && !Self.isMediaType(mediaType) {
            problems.note("malformed Content-Type '\(mediaType.prefix(40))', read as text/plain")
            mediaType = ""
        }
        if mediaType.isEmpty { mediaType = entity.inDigest ? "message/rfc822" : "text/plain" }
        let disposition = headers[.contentDisposition].map(HeaderValue.init)
        let isAttachment = disposition?.token == "attachment"
        let charset = Charset(label: type?.parameter("charset", problems: &problems))

        if entity.isAttachedMessage, let subject = headers[.subject] {
            addAttachedSubject(subject, charset: charset)
        }

        let tooDeep = entity.depth >= options.maxNestingDepth
        if mediaType.hasPrefix("multipart/"), !tooDeep {
            startMultipart(type!, isAlternative: mediaType == "multipart/alternative", isDigest: mediaType == "multipart/digest", charset: charset)
        } else if mediaType == "message/rfc822" || mediaType == "message/global", !isAttachment, !tooDeep {
            entity = Entity(depth: entity.depth + 1, parentNode: entity.parentNode, isTop: false, isAttachedMessage: true, inDigest: false)
            startHeaders()
        } else if mediaType.hasPrefix("text/"), !isAttachment {
            let encoding = headers[.contentTransferEncoding].map { String(decoding: $0, as: UTF8.self) }
            let leaf = TextTree.Leaf(bytes: arena.count..<arena.count, charset: charset, isHTML: mediaType == "text/html")
            text = OpenText(leaf: tree.addLeaf(leaf, under: entity.parentNode), decoder: TransferDecoder(encoding: encoding, problems: &problems))
            phase = .text
        } else {
            if tooDeep && (mediaType.hasPrefix("multipart/") || mediaType.hasPrefix("message/")) {
                problems.note("MIME nesting deeper than \(options.maxNestingDepth); deeper parts skipped")
                structureTruncated = true
            }
            if let name = disposition?.parameter("filename", problems: &problems) ?? type?.parameter("name", problems: &problems) {
                addAttachmentName(name)
            }
            phase = .skip
        }
    }

    private mutating func startMultipart(_ type: HeaderValue, isAlternative: Bool, isDigest: Bool, charset: Charset?) {
        var boundary = type.rawParameter("boundary")
        if let b = boundary, b.isEmpty || b.count > Self.boundaryLimit {
            problems.note("unusable multipart boundary of \(b.count) bytes")
            boundary = nil
        } else if boundary == nil {
            problems.note("multipart without boundary parameter")
        }
        let node = tree.addGroup(isAlternative: isAlternative, under: entity.parentNode)
        let leaf = tree.addLeaf(TextTree.Leaf(bytes: arena.count..<arena.count, charset: charset, isHTML: false), under: node)
        multiparts.append(Multipart(boundary: boundary, node: node, depth: entity.depth, isDigest: isDigest, preamble: (arena.mark, leaf)))
        text = OpenText(leaf: leaf, decoder: .identity)
        phase = .preamble
    }

    /// Ends the entity being read, at a boundary line or the end of the input.
    private mutating func endEntity() {
        // Headers cut short still declare what the entity is (an attachment name, say).
        while phase == .headers {
            headerBlock.finish(headers: &headers, problems: &problems)
            endOfHeaders()
        }
        switch phase {
        case .text, .preamble:
            if phase == .preamble {
                problems.note("multipart boundary never found; its body read as text")
            }
            text!.decoder.finish(into: &arena)
            tree.setEnd(ofLeaf: text!.leaf, to: arena.count)
            text = nil
        case .headers, .skip:
            break
        case .done:
            return
        }
        phase = .skip
    }

    private mutating func addAttachedSubject(_ subject: [UInt8], charset: Charset?) {
        let decoded = EncodedWords.decode(subject, fallback: charset, problems: &problems)
        let start = arena.count
        var line = "Subject: " + decoded
        line.withUTF8 { arena.append($0) }
        _ = tree.addLeaf(TextTree.Leaf(bytes: start..<arena.count, charset: .utf8, isHTML: false), under: entity.parentNode)
    }

    static let attachmentNameLimit = 100

    private mutating func addAttachmentName(_ name: String) {
        let folded = WhitespaceFolder.foldLine(name)
        guard !folded.isEmpty else { return }
        guard attachmentNames.count < Self.attachmentNameLimit else {
            problems.note("more than \(Self.attachmentNameLimit) attachment names")
            return
        }
        attachmentNames.append(String(folded.unicodeScalars.prefix(255)))
    }

    private static func isMediaType(_ token: String) -> Bool {
        let halves = token.split(separator: "/", omittingEmptySubsequences: false)
        return halves.count == 2 && !halves[0].isEmpty && !halves[1].isEmpty
    }
}
