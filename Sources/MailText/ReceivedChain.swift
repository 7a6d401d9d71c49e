/// A message's Received chain as the classifier reads it: one line per hop, newest first, with what identifies
/// the route (hosts, addresses, the software and protocol) and without what only identifies the moment (the date
/// after the last `;`, the queue id after `id`), so the model learns the path mail takes and not when it came.
enum ReceivedChain {
    /// The most characters of one hop that are kept.
    static let hopLimit = 256

    /// `from mx.example.org ([192.0.2.1]) by mail.example.net (Postfix) with ESMTP for <a@example.net>`
    /// from `from mx.example.org ([192.0.2.1]) by mail.example.net (Postfix) with ESMTP id 4F2A1 for
    /// <a@example.net>; Tue, 8 Dec 2026 01:02:03 +0000`. Empty when nothing is left.
    static func hop(_ value: [UInt8]) -> String {
        var bytes = value[...]
        if let semicolon = bytes.lastIndex(of: UInt8(ascii: ";")) { bytes = bytes[..<semicolon] }
        let words = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
        var kept: [Substring] = []
        kept.reserveCapacity(words.count)
        var i = words.startIndex
        while i < words.endIndex {
            if words[i].lowercased() == "id" && words.index(after: i) < words.endIndex {
                i = words.index(i, offsetBy: 2)   // `id QUEUEID`
                continue
            }
            kept.append(words[i])
            i = words.index(after: i)
        }
        let line = kept.joined(separator: " ")
        return line.unicodeScalars.count <= hopLimit ? line : String(String.UnicodeScalarView(line.unicodeScalars.prefix(hopLimit)))
    }
}
