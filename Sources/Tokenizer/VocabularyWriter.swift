import Foundation

extension GPT2Tokenizer {
    /// Writes a Hugging Face `vocab.json` + `merges.txt` pair: the 256 byte tokens (ids 0–255 in byte order),
    /// then one token per merge in rank order, then `<|endoftext|>`. With no merges this is a pure byte-level
    /// vocabulary of 257 ids: what tests and tiny demo models use.
    public static func writeVocabulary(to directory: URL, merges: [(String, String)] = []) throws {
        var vocab: [String: Int] = [:]
        for b in 0...255 { vocab[String(Character(ByteLevelAlphabet.scalar(spelling: UInt8(b))))] = b }
        var mergeLines = ["#version: 0.2"]
        for (a, b) in merges {
            vocab[a + b] = vocab.count
            mergeLines.append("\(a) \(b)")
        }
        vocab["<|endoftext|>"] = vocab.count
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: vocab, options: [.sortedKeys]).write(to: directory.appendingPathComponent("vocab.json"))
        try Data((mergeLines.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("merges.txt"))
    }
}
