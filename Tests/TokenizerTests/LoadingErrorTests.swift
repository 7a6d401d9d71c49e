import Foundation
import Testing
@testable import Tokenizer

/// Corrupt files must fail with a message that names the file and, for the line formats, the line.
@Suite final class LoadingErrorTests {
    let directory: URL
    let vocabJSON: String
    let merges: [String]
    let tiktoken: [String]

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        vocabJSON = try String(contentsOf: Fixtures.smallHuggingFace.appendingPathComponent("vocab.json"), encoding: .utf8)
        merges = try String(contentsOf: Fixtures.smallHuggingFace.appendingPathComponent("merges.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        tiktoken = try String(contentsOf: Fixtures.smallTiktoken, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    private func write(_ name: String, _ contents: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// Loads vocab.json and merges.txt, `vocabJSON` and `merges` unless given, and returns the error.
    private func huggingFaceError(vocabJSON: String? = nil, merges: [String]? = nil) throws -> TokenizerError? {
        let vocabURL = try write("vocab.json", vocabJSON ?? self.vocabJSON)
        let mergesURL = try write("merges.txt", (merges ?? self.merges).joined(separator: "\n") + "\n")
        return #expect(throws: TokenizerError.self) { try GPT2Tokenizer(vocabJSON: vocabURL, merges: mergesURL) }
    }

    private func tiktokenError(_ lines: [String]) throws -> TokenizerError? {
        let url = try write("broken.tiktoken", lines.joined(separator: "\n") + "\n")
        return #expect(throws: TokenizerError.self) { try GPT2Tokenizer(tiktoken: url) }
    }

    private func expect(_ error: TokenizerError?, file: String, line: Int? = nil, saying fragment: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        let path = directory.appendingPathComponent(file).path
        let prefix = line.map { "\(path):\($0): " } ?? "\(path): "
        let description = error?.description ?? ""
        #expect(description.hasPrefix(prefix) && description.contains(fragment), "\(description)", sourceLocation: sourceLocation)
    }

    @Test func vocabJSONThatIsNotJSON() throws {
        expect(try huggingFaceError(vocabJSON: "{\"a\": 1,\n\"b\" 2}"), file: "vocab.json", line: 2, saying: "not valid JSON")
    }

    @Test func vocabJSONEntryWithoutIntegerID() throws {
        let broken = vocabJSON.replacingOccurrences(of: "\"Ġt\":", with: "\"Ġt\":\"x\",\"ignored\":")
        expect(try huggingFaceError(vocabJSON: broken), file: "vocab.json", saying: "entry \"Ġt\"")
    }

    @Test func vocabJSONEntryOutsideTheByteAlphabet() throws {
        let broken = vocabJSON.replacingOccurrences(of: "\"Ġt\":", with: "\"Ġt\\u0300\":")
        expect(try huggingFaceError(vocabJSON: broken), file: "vocab.json", saying: "U+300")
    }

    @Test func vocabJSONWithoutEndOfText() throws {
        let broken = vocabJSON.replacingOccurrences(of: "\"<|endoftext|>\":656", with: "\"Ġendoftext\":656")
        expect(try huggingFaceError(vocabJSON: broken), file: "vocab.json", saying: "no \"<|endoftext|>\" entry")
    }

    @Test func vocabJSONWithDuplicateID() throws {
        let broken = vocabJSON.replacingOccurrences(of: "\"<|endoftext|>\":656", with: "\"<|endoftext|>\":0")
        expect(try huggingFaceError(vocabJSON: broken), file: "vocab.json", saying: "have the same id 0")
    }

    @Test func vocabJSONWithoutAByte() throws {
        // "!" is byte 0x21, id 0; "Ġendoftext" takes the id so the ids stay dense.
        let broken = vocabJSON.replacingOccurrences(of: "\"!\":0,", with: "\"Ġendoftext\":0,")
        expect(try huggingFaceError(vocabJSON: broken), file: "vocab.json", saying: "no token for the byte \"!\"")
    }

    @Test func mergesLineWithOneToken() throws {
        var broken = merges
        broken[4] = "Ġt"
        expect(try huggingFaceError(merges: broken), file: "merges.txt", line: 5, saying: "two tokens")
    }

    @Test func mergesLineWithUnknownToken() throws {
        var broken = merges
        broken[6] = "Ġt zzzq"
        expect(try huggingFaceError(merges: broken), file: "merges.txt", line: 7, saying: "\"zzzq\" is not in vocab.json")
    }

    @Test func mergesLineGivingUnknownToken() throws {
        var broken = merges
        broken[9] = "q q"
        expect(try huggingFaceError(merges: broken), file: "merges.txt", line: 10, saying: "gives \"qq\"")
    }

    @Test func tiktokenLineWithBadBase64() throws {
        var broken = tiktoken
        broken[2] = "#@! 2"
        expect(try tiktokenError(broken), file: "broken.tiktoken", line: 3, saying: "expected a base64 token")
    }

    @Test func tiktokenLineWithBadRank() throws {
        var broken = tiktoken
        broken[3] = broken[3].split(separator: " ")[0] + " three"
        expect(try tiktokenError(broken), file: "broken.tiktoken", line: 4, saying: broken[3])
    }

    @Test func tiktokenDuplicateRank() throws {
        var broken = tiktoken
        broken[300] = broken[300].split(separator: " ")[0] + " 5"
        expect(try tiktokenError(broken), file: "broken.tiktoken", line: 301, saying: "rank 5 is on line 6 already")
    }

    @Test func tiktokenDuplicateToken() throws {
        var broken = tiktoken
        broken[300] = broken[5].split(separator: " ")[0] + " 300"
        expect(try tiktokenError(broken), file: "broken.tiktoken", line: 301, saying: "is on line 6 already")
    }

    @Test func tiktokenMissingRank() throws {
        expect(try tiktokenError(tiktoken.filter { !$0.hasSuffix(" 400") }), file: "broken.tiktoken", saying: "no rank 400")
    }

    @Test func tiktokenWithoutAByte() throws {
        // Rank 0 is "!"; give its rank to a new token instead.
        var broken = tiktoken
        broken[0] = "\(Data("zzzq".utf8).base64EncodedString()) 0"
        expect(try tiktokenError(broken), file: "broken.tiktoken", saying: "no token for the byte 0x21")
    }

    @Test func unreadableFile() {
        let missing = directory.appendingPathComponent("missing.tiktoken")
        let error = #expect(throws: TokenizerError.self) { try GPT2Tokenizer(tiktoken: missing) }
        #expect(error?.description.hasPrefix("cannot read \(missing.path)") == true, "\(String(describing: error))")
    }

    @Test func directoryWithoutVocabulary() throws {
        _ = try write("vocab.json", vocabJSON)  // without merges.txt it is no vocabulary
        #expect(throws: TokenizerError.noVocabulary(directory: directory.path)) { try GPT2Tokenizer.load(directory: directory) }
    }

    @Test func directoryWithTwoTiktokenFiles() throws {
        _ = try write("a.tiktoken", tiktoken.joined(separator: "\n"))
        _ = try write("b.tiktoken", tiktoken.joined(separator: "\n"))
        #expect(throws: TokenizerError.ambiguousVocabulary(directory: directory.path, candidates: ["a.tiktoken", "b.tiktoken"])) {
            try GPT2Tokenizer.load(directory: directory)
        }
    }

    @Test func missingDirectory() {
        let missing = directory.appendingPathComponent("absent")
        let error = #expect(throws: TokenizerError.self) { try GPT2Tokenizer.load(directory: missing) }
        #expect(error?.description.hasPrefix("cannot read \(missing.path)") == true, "\(String(describing: error))")
    }
}
