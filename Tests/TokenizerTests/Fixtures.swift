import Foundation
import Testing
@testable import Tokenizer

/// The committed output of scripts/gen-tokenizer-fixtures.py.
enum Fixtures {
    static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    /// The small vocabulary learned by the generator, in each file format.
    static let smallHuggingFace = directory.appendingPathComponent("small-hf")
    static let smallTiktoken = directory.appendingPathComponent("small-tiktoken/small.tiktoken")

    struct TextCase: Decodable, CustomTestStringConvertible {
        let text: String
        /// What tiktoken gives with the small vocabulary and with the real GPT-2 one.
        let small: [Int32]
        let gpt2: [Int32]
        /// How tiktoken's pattern splits the text, for texts up to 300 bytes.
        let pieces: [String]?
        var testDescription: String { String(text.prefix(40)).debugDescription }
    }

    struct BytesCase: Decodable, CustomTestStringConvertible {
        let hex: String
        let small: [Int32]
        let gpt2: [Int32]
        var bytes: [UInt8] {
            stride(from: 0, to: hex.count, by: 2).map { offset in
                let start = hex.index(hex.startIndex, offsetBy: offset)
                return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
            }
        }
        var testDescription: String { hex }
    }

    private struct Cases: Decodable {
        let texts: [TextCase]
        let invalidUTF8: [BytesCase]
    }

    private static let cases = try! JSONDecoder().decode(Cases.self, from: Data(contentsOf: directory.appendingPathComponent("cases.json")))
    static var texts: [TextCase] { cases.texts }
    static var invalidUTF8: [BytesCase] { cases.invalidUTF8 }

    /// The class of every scalar as tiktoken's pattern sees it, from unicode-classes.txt.
    static func unicodeClasses() throws -> [(scalars: ClosedRange<UInt32>, class: ScalarClass)] {
        let text = try String(contentsOf: directory.appendingPathComponent("unicode-classes.txt"), encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let fields = line.split(separator: " ")
            let classes: [Substring: ScalarClass] = ["L": .letter, "N": .number, "S": .whitespace, "O": .other]
            return (UInt32(fields[0], radix: 16)!...UInt32(fields[1], radix: 16)!, classes[fields[2]]!)
        }
    }
}

/// The real GPT-2 vocabulary, which is not in the repository: in $SPAMGUARD_GPT2_TOKENIZER, else in
/// ../shared/tokenizer next to the package (as on CI).
enum RealGPT2 {
    static let directory: URL? = {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidate = ProcessInfo.processInfo.environment["SPAMGUARD_GPT2_TOKENIZER"].map { URL(fileURLWithPath: $0) }
            ?? packageRoot.appendingPathComponent("../shared/tokenizer").standardizedFileURL
        return FileManager.default.fileExists(atPath: candidate.appendingPathComponent("vocab.json").path) ? candidate : nil
    }()

    static var tiktokenFile: URL? {
        directory.map { $0.appendingPathComponent("gpt2.tiktoken") }.flatMap { FileManager.default.fileExists(atPath: $0.path) ? $0 : nil }
    }

    static let absentReason: Comment = "the real GPT-2 vocabulary is absent: set SPAMGUARD_GPT2_TOKENIZER to a directory with vocab.json, merges.txt and gpt2.tiktoken"
}
