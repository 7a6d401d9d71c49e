import Foundation
import Crypto

/// Whether a feedback file is one raw mail message, and its identity.
public enum MailCheck {
    /// Nil when `bytes` look like one raw message (RFC 5322: a header field first, after an optional mbox
    /// `From ` line); otherwise why not. Binary files (NUL bytes) and empty files are not mail.
    public static func rejection(of bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return "empty file" }
        if let nul = bytes.firstIndex(of: 0) { return "binary content (a NUL byte at offset \(nul))" }
        var start = 0
        // An mbox separator line or a blank line before the headers (some tools write one) is tolerated.
        if bytes.starts(with: Array("From ".utf8)) { start = lineEnd(bytes, from: 0) }
        while start < bytes.count, bytes[start] == UInt8(ascii: "\r") || bytes[start] == UInt8(ascii: "\n") { start += 1 }
        guard start < bytes.count else { return "no header section (nothing but blank lines)" }
        let end = lineEnd(bytes, from: start)
        let first = bytes[start..<end]
        guard let colon = first.firstIndex(of: UInt8(ascii: ":")), colon > start,
              first[start..<colon].allSatisfy({ (33...126).contains($0) }) else {
            let shown = String(decoding: first.prefix(60), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return "no header section (the first line is not a header field: \"\(shown)\")"
        }
        return nil
    }

    /// Why a message handed to `learn` is refused at once (not mail, or over `maxBytes`, which is
    /// `[feedback] max_message_bytes`); nil when it may go into the feedback folder.
    public static func submissionRefusal(of bytes: [UInt8], maxBytes: Int) -> String? {
        if let reason = rejection(of: bytes) { return "not a mail message (\(reason))" }
        if bytes.count > maxBytes { return "\(bytes.count) bytes, over [feedback] max_message_bytes (\(maxBytes))" }
        return nil
    }

    /// SHA-256 (hex) of the message with CRLF line ends read as LF, so that the same message stored by tools
    /// with different line ends counts once.
    public static func digest(of bytes: [UInt8]) -> String {
        var hasher = SHA256()
        var runStart = 0
        bytes.withUnsafeBytes { raw in
            for i in 0..<raw.count where raw[i] == UInt8(ascii: "\r") && i + 1 < raw.count && raw[i + 1] == UInt8(ascii: "\n") {
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[runStart..<i]))
                runStart = i + 1
            }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[runStart...]))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    private static func lineEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var i = start
        while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
        return min(i + 1, bytes.count)
    }
}
