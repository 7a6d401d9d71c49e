// TEMPORARY: a minimal stand-in for the `MailText` API being built in parallel (worktree wt-mailtext).
// It exists only so the daemon compiles and runs before `MailText.MessageReader` lands on main.
// Delete this file after merging main and add `import MailText` where these names are used.

/// What text to extract for a model (stand-in: no options yet).
public struct ExtractionOptions: Sendable, Equatable {
    public init() {}
}

/// The text extracted from one message.
public struct ExtractedText: Sendable {
    public var classificationText: String
}

/// Incremental reader: headers, end of headers, body chunks, finish (stand-in: Subject plus the raw body).
public struct MessageReader {
    private var subject = ""
    private var body: [UInt8] = []
    private let bodyLimit = 64 * 1024

    public init(options: ExtractionOptions) {}

    public mutating func header(name: String, value: [UInt8]) {
        if name.lowercased() == "subject" { subject = String(decoding: value, as: UTF8.self) }
    }

    public mutating func endOfHeaders() {}

    public mutating func body(_ chunk: UnsafeRawBufferPointer) {
        body.append(contentsOf: chunk.prefix(max(0, bodyLimit - body.count)))
    }

    public mutating func finish() -> ExtractedText {
        ExtractedText(classificationText: subject + "\n\n" + String(decoding: body, as: UTF8.self))
    }
}
