import Foundation

/// GPT-2's byte-level BPE tokenizer, giving exactly the ids of tiktoken's "gpt2" encoding
/// (`encode_ordinary`: text that spells "<|endoftext|>" is ordinary text, never the special token).
///
/// Immutable but for a bounded cache of merged words, and safe to use from any number of threads at once.
public final class GPT2Tokenizer: Sendable {
    /// Every token BPE may produce, so that a whole piece that is one token (most words) needs one lookup.
    private let tokenOfPiece: TokenTable
    let bytePairEncoder: BytePairEncoder
    private let cache: PieceCache
    private let tokenBytes: TokenBytes

    /// The id of "<|endoftext|>": 50256 for GPT-2.
    public let endOfText: Int32

    /// The number of ids, the special token included: 50257 for GPT-2.
    public var vocabularySize: Int { tokenBytes.count }

    /// A model directory: vocab.json + merges.txt (Hugging Face), else a *.tiktoken file in it.
    public static func load(directory: URL) throws -> GPT2Tokenizer {
        let vocabJSON = directory.appendingPathComponent("vocab.json")
        let merges = directory.appendingPathComponent("merges.txt")
        let files = FileManager.default
        if files.fileExists(atPath: vocabJSON.path), files.fileExists(atPath: merges.path) {
            return try GPT2Tokenizer(vocabJSON: vocabJSON, merges: merges)
        }
        let names: [String]
        do { names = try files.contentsOfDirectory(atPath: directory.path) } catch {
            throw TokenizerError.unreadable(path: directory.path, reason: error.localizedDescription)
        }
        let tiktokenFiles = names.filter { $0.hasSuffix(".tiktoken") }.sorted()
        switch tiktokenFiles.count {
        case 0: throw TokenizerError.noVocabulary(directory: directory.path)
        case 1: return try GPT2Tokenizer(tiktoken: directory.appendingPathComponent(tiktokenFiles[0]))
        default: throw TokenizerError.ambiguousVocabulary(directory: directory.path, candidates: tiktokenFiles)
        }
    }

    /// Hugging Face's files: tokens spelled in GPT-2's byte-level alphabet, merges in priority order.
    public convenience init(vocabJSON: URL, merges: URL) throws {
        self.init(try Vocabulary(vocabJSON: vocabJSON, merges: merges))
    }

    /// tiktoken's file: one "base64-token rank" line per token; "<|endoftext|>" gets the next id.
    public convenience init(tiktoken: URL) throws {
        self.init(try Vocabulary(tiktoken: tiktoken))
    }

    init(_ vocabulary: Vocabulary, cache: PieceCache = PieceCache()) {
        let tokenBytes = TokenBytes(vocabulary.tokens)
        let mergeable = vocabulary.ranks.indices.filter { vocabulary.ranks[$0] != nil }.map(Int32.init)
        let tokenOfPiece = TokenTable(ids: mergeable, of: tokenBytes)
        func id(of bytes: UnsafeBufferPointer<UInt8>) -> Int32? { tokenOfPiece.id(of: bytes, key: PieceKey(bytes)) }

        let idOfByte = (0...255).map { (byte: UInt8) in [byte].withUnsafeBufferPointer { id(of: $0)! } }  // Vocabulary checked
        // Every way to split a token into two tokens is a pair BPE merges into it.
        var pairs: [(left: Int32, right: Int32, merge: Merge)] = []
        for merged in mergeable {
            let merge = Merge(rank: vocabulary.ranks[Int(merged)]!, id: merged)
            vocabulary.tokens[Int(merged)].withUnsafeBufferPointer { bytes in
                for split in 1..<max(bytes.count, 1) {
                    if let left = id(of: UnsafeBufferPointer(rebasing: bytes[..<split])),
                       let right = id(of: UnsafeBufferPointer(rebasing: bytes[split...])) {
                        pairs.append((left, right, merge))
                    }
                }
            }
        }
        self.tokenOfPiece = tokenOfPiece
        self.tokenBytes = tokenBytes
        bytePairEncoder = BytePairEncoder(idOfByte: idOfByte, merges: MergeTable(pairs))
        endOfText = vocabulary.endOfText
        self.cache = cache
    }

    public func encode(_ text: String) -> [Int32] {
        encode(text, maxTokens: .max)
    }

    /// Stops as soon as maxTokens ids are produced (mail can be megabytes; the model reads only the first
    /// N tokens) — must not pre-tokenize the whole text first. The ids are a prefix of `encode(text)`.
    public func encode(_ text: String, maxTokens: Int) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(utf8: $0, maxTokens: maxTokens) }
    }

    /// Raw bytes; invalid UTF-8 becomes U+FFFD first, never fails.
    public func encode(bytes: some Sequence<UInt8>) -> [Int32] {
        encode(String(decoding: Array(bytes), as: UTF8.self))
    }

    /// The bytes the ids stand for; ids outside the vocabulary are skipped.
    public func decode(_ ids: [Int32]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids where (0..<Int32(vocabularySize)).contains(id) {
            bytes += tokenBytes[id]
        }
        return bytes
    }

    private func encode(utf8: UnsafeBufferPointer<UInt8>, maxTokens: Int) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(min(maxTokens, utf8.count / 2 + 16))  // mail averages 2.4 bytes a token
        var scanner = PieceScanner(utf8)
        while ids.count < maxTokens, let piece = scanner.next() {
            appendIDs(of: UnsafeBufferPointer(rebasing: utf8[piece]), to: &ids)
        }
        if ids.count > maxTokens { ids.removeLast(ids.count - maxTokens) }
        return ids
    }

    private func appendIDs(of piece: UnsafeBufferPointer<UInt8>, to ids: inout [Int32]) {
        if piece.count == 1 {
            ids.append(bytePairEncoder.idOfByte[Int(piece[0])])
            return
        }
        let key = PieceKey(piece)
        if let id = tokenOfPiece.id(of: piece, key: key) {
            ids.append(id)
        } else if !cache.appendIDs(of: piece, hash: key.hash, to: &ids) {
            bytePairEncoder.encode(piece) { merged in
                ids.append(contentsOf: merged)
                cache.insert(piece, hash: key.hash, ids: merged)
            }
        }
    }
}
