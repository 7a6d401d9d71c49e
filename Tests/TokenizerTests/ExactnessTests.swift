import Testing
@testable import Tokenizer

/// The pre-tokenizer must split text exactly as tiktoken's pattern does, whatever the vocabulary.
@Suite struct PreTokenizationTests {
    @Test(arguments: Fixtures.texts.filter { $0.pieces != nil })
    func piecesMatchTiktoken(_ testCase: Fixtures.TextCase) {
        var text = testCase.text
        let pieces = text.withUTF8 { utf8 in
            sequence(state: PieceScanner(utf8)) { $0.next() }.map { String(decoding: utf8[$0], as: UTF8.self) }
        }
        #expect(pieces == testCase.pieces)
    }

    @Test func scalarClassesMatchTiktokensPattern() throws {
        var mismatches: [String] = []
        for (scalars, expected) in try Fixtures.unicodeClasses() {
            for value in scalars {
                let found = ScalarClass(Unicode.Scalar(value)!)
                let foundASCII = value < 0x80 ? ScalarClass(ascii: UInt8(value)) : expected
                if found != expected || foundASCII != expected {
                    mismatches.append("U+\(String(value, radix: 16, uppercase: true)): \(found), not \(expected)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) scalars, first \(mismatches.prefix(20))")
    }
}

/// The ids must be exactly tiktoken's: these compare with ids tiktoken produced (see Fixtures).
@Suite struct SmallVocabularyExactnessTests {
    static let huggingFace = try! GPT2Tokenizer.load(directory: Fixtures.smallHuggingFace)
    static let tiktoken = try! GPT2Tokenizer(tiktoken: Fixtures.smallTiktoken)

    @Test(arguments: Fixtures.texts)
    func textMatchesTiktoken(_ testCase: Fixtures.TextCase) {
        #expect(Self.huggingFace.encode(testCase.text) == testCase.small)
        #expect(Self.tiktoken.encode(testCase.text) == testCase.small)
    }

    /// tiktoken was given the bytes as Python decodes them, each invalid subsequence becoming U+FFFD.
    @Test(arguments: Fixtures.invalidUTF8)
    func invalidUTF8MatchesTiktokenOnTheRepairedText(_ testCase: Fixtures.BytesCase) {
        #expect(Self.huggingFace.encode(bytes: testCase.bytes) == testCase.small)
        #expect(Self.tiktoken.encode(bytes: testCase.bytes) == testCase.small)
        #expect(Self.tiktoken.encode(String(decoding: testCase.bytes, as: UTF8.self)) == testCase.small)
    }

    @Test func bothFormatsDescribeTheSameVocabulary() throws {
        let viaDirectory = try GPT2Tokenizer.load(directory: Fixtures.smallTiktoken.deletingLastPathComponent())
        for tokenizer in [Self.tiktoken, viaDirectory] {
            #expect(tokenizer.vocabularySize == Self.huggingFace.vocabularySize)
            #expect(tokenizer.endOfText == Self.huggingFace.endOfText)
            #expect(tokenizer.decode(Array(0..<Int32(tokenizer.vocabularySize))) == Self.huggingFace.decode(Array(0..<Int32(tokenizer.vocabularySize))))
        }
        #expect(Self.huggingFace.vocabularySize == 256 + 400 + 1)
        #expect(Self.huggingFace.endOfText == 656)
    }

    /// Long pieces take the heap, short ones the scan; both must merge in the same order.
    @Test func heapAndScanMergeAlike() {
        for tokenizer in [Self.huggingFace, Self.tiktoken] {
            for testCase in Fixtures.texts {
                var text = testCase.text
                text.withUTF8 { utf8 in
                    var scanner = PieceScanner(utf8)
                    while let range = scanner.next() {
                        let piece = UnsafeBufferPointer(rebasing: utf8[range])
                        guard piece.count > 1 else { continue }
                        var scanned: [Int32] = []
                        tokenizer.bytePairEncoder.encodeByScanning(piece) { scanned = Array($0) }
                        #expect(scanned == tokenizer.bytePairEncoder.encodeWithHeap(piece), "piece \(String(decoding: piece, as: UTF8.self).debugDescription)")
                    }
                }
            }
        }
    }
}

@Suite(.enabled(if: RealGPT2.directory != nil, RealGPT2.absentReason))
struct RealGPT2ExactnessTests {
    static let huggingFace = RealGPT2.directory.map { try! GPT2Tokenizer.load(directory: $0) }
    static let tiktoken = RealGPT2.tiktokenFile.map { try! GPT2Tokenizer(tiktoken: $0) }
    var tokenizers: [GPT2Tokenizer] { [Self.huggingFace, Self.tiktoken].compactMap { $0 } }

    @Test(arguments: Fixtures.texts)
    func textMatchesTiktoken(_ testCase: Fixtures.TextCase) {
        for tokenizer in tokenizers {
            #expect(tokenizer.encode(testCase.text) == testCase.gpt2)
        }
    }

    @Test(arguments: Fixtures.invalidUTF8)
    func invalidUTF8MatchesTiktokenOnTheRepairedText(_ testCase: Fixtures.BytesCase) {
        for tokenizer in tokenizers {
            #expect(tokenizer.encode(bytes: testCase.bytes) == testCase.gpt2)
        }
    }

    @Test func sizes() {
        for tokenizer in tokenizers {
            #expect(tokenizer.vocabularySize == 50257)
            #expect(tokenizer.endOfText == 50256)
            #expect(tokenizer.decode([tokenizer.endOfText]) == Array("<|endoftext|>".utf8))
        }
        #expect(tokenizers.count == 2, "both vocab.json + merges.txt and gpt2.tiktoken are expected")
    }
}
