/// The text of one message as the classifier reads it, and its pieces.
public struct ExtractedText: Sendable, Hashable {
    /// Decoded, unfolded, whitespace folded; empty when the message has none.
    public var subject: String
    /// Selected header lines (`From: …`), in `HeaderSelection` order.
    public var headerLines: [String]
    /// Body text: whitespace runs folded to one space, or to one newline when they span lines;
    /// no blank lines. Cut to fit `maxTextCharacters` together with the lines before and after it.
    public var body: String
    /// With `HeaderSelection.received`: the Received chain, one `Received: …` line per hop, newest first.
    public var receivedLines: [String] = []
    /// File names of parts that were not decoded into the text, in message order.
    public var attachmentNames: [String]
    /// ```
    /// <header lines>
    /// Subject: <subject>
    /// Attachments: a.exe, b.zip      (only when there are any)
    ///
    /// <body>
    ///
    /// <received lines>               (only with `HeaderSelection.received`)
    /// ```
    /// Attachment names come before the body, not after it, so they stay within the few hundred
    /// tokens the model reads however long the body is.
    public var classificationText: String
    /// A cap dropped text: `maxBodyBytes`, `maxTextCharacters`, `maxParts` or `maxNestingDepth`.
    public var truncated: Bool
    /// What was malformed or unsupported, one short line each, for logs; each kind once, at most 32.
    public var problems: [String]
}
