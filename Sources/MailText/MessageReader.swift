/// Extracts text from a message that arrives in pieces, as a milter receives it: header fields
/// first, then the body in chunks of any size, with CRLF or LF line ends.
///
/// Gives the same `ExtractedText` as `MailText.extract` on the whole message, however the body
/// is chunked. Holds at most `maxBodyBytes` of decoded text, the header fields it uses (16 KiB
/// each at most) and one line piece; attachments are scanned for boundaries and dropped as
/// they pass.
public struct MessageReader: Sendable {
    private var splitter = LineSplitter()
    private var parser: MessageParser
    private let rawHeaders: Bool

    public init(options: ExtractionOptions = .default) {
        self.init(options: options, rawHeaders: false)
    }

    /// A reader for a whole raw message, header section included, all of it passed to
    /// `body(_:)`; `header(name:value:)` and `endOfHeaders()` are not used. For a message read
    /// in pieces from a file or a pipe.
    public static func rawMessage(options: ExtractionOptions = .default) -> MessageReader {
        MessageReader(options: options, rawHeaders: true)
    }

    private init(options: ExtractionOptions, rawHeaders: Bool) {
        parser = MessageParser(options: options, rawHeaders: rawHeaders)
        self.rawHeaders = rawHeaders
    }

    /// One header field: its name, and its value as received, possibly folded (CRLF or LF
    /// followed by blanks), with or without the blank after the colon.
    public mutating func header(name: String, value: [UInt8]) {
        parser.addTopHeader(name: name, value: value)
    }

    public mutating func endOfHeaders() {
        parser.endTopHeaders()
    }

    /// The next chunk of the body, cut anywhere.
    public mutating func body(_ chunk: UnsafeRawBufferPointer) {
        if !rawHeaders { parser.endTopHeaders() }
        splitter.feed(chunk, into: &parser)
    }

    public mutating func body(_ chunk: [UInt8]) {
        chunk.withUnsafeBytes { body($0) }
    }

    /// The text of the message. Ends the input; later calls return the same text.
    public mutating func finish() -> ExtractedText {
        if !rawHeaders { parser.endTopHeaders() }
        splitter.finish(into: &parser)
        parser.finish()
        return ExtractedText(parsed: parser)
    }

    /// Bytes held between calls; for tests of the memory bound.
    var retainedBytes: Int { splitter.retainedBytes + parser.retainedBytes }
}

public enum MailText {
    /// Extracts the text of one raw RFC 5322 message (headers, blank line, body).
    public static func extract(_ raw: UnsafeRawBufferPointer, options: ExtractionOptions = .default) -> ExtractedText {
        var reader = MessageReader.rawMessage(options: options)
        reader.body(raw)
        return reader.finish()
    }

    public static func extract(_ raw: some Collection<UInt8>, options: ExtractionOptions = .default) -> ExtractedText {
        if let text = raw.withContiguousStorageIfAvailable({ extract(UnsafeRawBufferPointer($0), options: options) }) {
            return text
        }
        return Array(raw).withUnsafeBytes { extract($0, options: options) }
    }
}
