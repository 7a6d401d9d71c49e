import Foundation

/// The tokens a vocabulary file describes, in either format, before lookup tables are built from them.
///
/// Both formats are read with tiktoken's semantics: BPE may produce every token that has a rank, and
/// merges, among the pairs of adjacent parts whose concatenation is such a token, the one whose token
/// has the lowest rank. For Hugging Face files a merged token's rank is the line of merges.txt that
/// first produces it, which is how tiktoken itself derives its "gpt2" ranks from those files.
struct Vocabulary {
    /// The bytes of every id; the end-of-text id holds its text, "<|endoftext|>".
    var tokens: [[UInt8]]
    /// Merge priority of every id BPE may produce, lower first; nil for ids it never produces.
    /// Only the ranks of tokens of two or more bytes are ever compared.
    var ranks: [UInt32?]
    var endOfText: Int32

    static let endOfTextText = "<|endoftext|>"
}

// MARK: - Hugging Face: vocab.json + merges.txt

extension Vocabulary {
    init(vocabJSON: URL, merges: URL) throws {
        let vocabPath = vocabJSON.path
        let idOfToken = try Self.readVocabJSON(vocabJSON)
        func malformed(_ reason: String) -> TokenizerError { .malformed(path: vocabPath, line: nil, reason: reason) }

        tokens = Array(repeating: [], count: idOfToken.count)
        ranks = Array(repeating: nil, count: idOfToken.count)
        var endOfText: Int32?
        var spelling = [String?](repeating: nil, count: idOfToken.count)
        for (token, id) in idOfToken {
            guard (0..<idOfToken.count).contains(id) else {
                throw malformed("entry \(token.debugDescription) has id \(id); the ids must number the \(idOfToken.count) entries from 0")
            }
            if let other = spelling[id] {
                throw malformed("entries \(other.debugDescription) and \(token.debugDescription) have the same id \(id)")
            }
            spelling[id] = token
            if token == Self.endOfTextText {
                endOfText = Int32(id)
                tokens[id] = Array(token.utf8)
                continue
            }
            tokens[id] = try token.unicodeScalars.map { scalar in
                guard let byte = ByteLevelAlphabet.byte(spelledBy: scalar) else {
                    throw malformed("entry \(token.debugDescription) contains U+\(String(scalar.value, radix: 16, uppercase: true)), which spells no byte in GPT-2's byte-level alphabet")
                }
                return byte
            }
            if tokens[id].count == 1 { ranks[id] = UInt32(id) }
        }
        guard let endOfText else { throw malformed("no \(Self.endOfTextText.debugDescription) entry") }
        self.endOfText = endOfText
        try checkAllBytesPresent(path: vocabPath) { byte in
            String(Character(ByteLevelAlphabet.scalar(spelling: byte))).debugDescription
        }
        try readMerges(merges, idOfToken: idOfToken)
    }

    private static func readVocabJSON(_ url: URL) throws -> [String: Int] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw TokenizerError.unreadable(path: url.path, reason: error.localizedDescription) }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            let message = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
            throw TokenizerError.malformed(path: url.path, line: line(ofOffsetIn: message, data), reason: "not valid JSON: \(message)")
        }
        guard let entries = object as? [String: Any] else {
            throw TokenizerError.malformed(path: url.path, line: nil, reason: "expected a JSON object of token → id")
        }
        var idOfToken = [String: Int](minimumCapacity: entries.count)
        for (token, value) in entries {
            guard let id = value as? Int else {
                throw TokenizerError.malformed(path: url.path, line: nil, reason: "entry \(token.debugDescription): expected an integer id, found \(value)")
            }
            idOfToken[token] = id
        }
        return idOfToken
    }

    /// Foundation locates a syntax error as "around character N" (a byte offset); the line is clearer.
    private static func line(ofOffsetIn message: String, _ data: Data) -> Int? {
        guard let marker = message.range(of: "character ") else { return nil }
        guard let offset = Int(message[marker.upperBound...].prefix(while: \.isNumber)), offset <= data.count else { return nil }
        return 1 + data.prefix(offset).count(where: { $0 == UInt8(ascii: "\n") })
    }

    private mutating func readMerges(_ url: URL, idOfToken: [String: Int]) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw TokenizerError.unreadable(path: url.path, reason: "\(error.localizedDescription) (it must be UTF-8 text)")
        }
        var mergeIndex: UInt32 = 0
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine
            if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
            func malformed(_ reason: String) -> TokenizerError { .malformed(path: url.path, line: index + 1, reason: reason) }

            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw malformed("expected two tokens separated by one space, found \(String(line).debugDescription)")
            }
            for part in parts where idOfToken[String(part)] == nil {
                throw malformed("\(String(part).debugDescription) is not in vocab.json")
            }
            let merged = String(parts[0] + parts[1])
            guard let id = idOfToken[merged] else {
                throw malformed("the merge gives \(merged.debugDescription), which is not in vocab.json")
            }
            if ranks[id] == nil { ranks[id] = 256 + mergeIndex }  // a later line producing it again changes nothing
            mergeIndex += 1
        }
    }
}

// MARK: - tiktoken: one "base64 rank" line per token

extension Vocabulary {
    init(tiktoken url: URL) throws {
        let path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw TokenizerError.unreadable(path: path, reason: error.localizedDescription) }

        var tokenOfRank: [Int: [UInt8]] = [:]
        var lineOfToken: [[UInt8]: Int] = [:]
        var lineOfRank: [Int: Int] = [:]
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            func malformed(_ reason: String) -> TokenizerError { .malformed(path: path, line: lineNumber, reason: reason) }
            if line.isEmpty { continue }
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count == 2,
                  let token = Data(base64Encoded: Data(fields[0])), !token.isEmpty,
                  let rank = Int(String(decoding: fields[1], as: UTF8.self)), rank >= 0
            else {
                throw malformed("expected a base64 token, one space and a rank, found \(String(decoding: line, as: UTF8.self).debugDescription)")
            }
            if let earlier = lineOfToken.updateValue(lineNumber, forKey: Array(token)) {
                throw malformed("the token \(Array(token)) is on line \(earlier) already")
            }
            if let earlier = lineOfRank.updateValue(lineNumber, forKey: rank) {
                throw malformed("rank \(rank) is on line \(earlier) already")
            }
            tokenOfRank[rank] = Array(token)
        }

        let count = tokenOfRank.count
        guard count > 0 else { throw TokenizerError.malformed(path: path, line: nil, reason: "no tokens") }
        tokens = []
        tokens.reserveCapacity(count + 1)
        for rank in 0..<count {
            guard let token = tokenOfRank[rank] else {
                throw TokenizerError.malformed(path: path, line: nil, reason: "no rank \(rank): the ranks must number the \(count) tokens from 0")
            }
            tokens.append(token)
        }
        ranks = (0..<UInt32(count)).map { $0 }
        // As in tiktoken's "gpt2": the special token follows the ranked ones.
        endOfText = Int32(count)
        tokens.append(Array(Self.endOfTextText.utf8))
        ranks.append(nil)
        try checkAllBytesPresent(path: path) { byte in "0x" + String(byte, radix: 16, uppercase: true) }
    }
}

// MARK: -

extension Vocabulary {
    /// BPE starts from single bytes, so every byte must be a token BPE may produce.
    private func checkAllBytesPresent(path: String, spelling: (UInt8) -> String) throws {
        var present = [Bool](repeating: false, count: 256)
        for (token, rank) in zip(tokens, ranks) where token.count == 1 && rank != nil { present[Int(token[0])] = true }
        if let missing = present.firstIndex(of: false) {
            throw TokenizerError.malformed(path: path, line: nil, reason: "no token for the byte \(spelling(UInt8(missing)))")
        }
    }
}
