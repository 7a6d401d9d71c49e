import Foundation
import Synchronization
import Testing
@testable import Tokenizer

@Suite struct EncodingTests {
    let tokenizer = try! GPT2Tokenizer(tiktoken: Fixtures.smallTiktoken)

    @Test(arguments: Fixtures.texts)
    func maxTokensGivesAPrefix(_ testCase: Fixtures.TextCase) {
        let all = tokenizer.encode(testCase.text)
        for maxTokens in Set([0, 1, 2, 3, 7, all.count / 2, all.count - 1, all.count, all.count + 1]) where maxTokens >= 0 {
            #expect(tokenizer.encode(testCase.text, maxTokens: maxTokens) == Array(all.prefix(maxTokens)), "maxTokens \(maxTokens)")
        }
    }

    @Test(arguments: Fixtures.texts)
    func decodeInvertsEncode(_ testCase: Fixtures.TextCase) {
        #expect(tokenizer.decode(tokenizer.encode(testCase.text)) == Array(testCase.text.utf8))
    }

    @Test func decodeSkipsUnknownIDs() {
        let hello = tokenizer.encode("hello")
        #expect(tokenizer.decode([-1] + hello + [Int32(tokenizer.vocabularySize), .max]) == Array("hello".utf8))
    }

    /// As tiktoken's encode_ordinary: mail text cannot smuggle in the special token.
    @Test func endOfTextInTextIsOrdinaryText() {
        let ids = tokenizer.encode("a<|endoftext|>b")
        #expect(!ids.contains(tokenizer.endOfText))
        #expect(tokenizer.decode(ids) == Array("a<|endoftext|>b".utf8))
        #expect(tokenizer.decode([tokenizer.endOfText]) == Array("<|endoftext|>".utf8))
    }

    /// Threads share the cache; a tiny one makes them evict each other's pieces constantly.
    @Test(arguments: [PieceCache(), PieceCache(shardCount: 2, slotsPerShard: 4)])
    func concurrentEncodingGivesTheSameIDs(cache: PieceCache) throws {
        let shared = GPT2Tokenizer(try Vocabulary(tiktoken: Fixtures.smallTiktoken), cache: cache)
        let cases = Fixtures.texts.filter { $0.text.utf8.count < 1000 }
        let failures = Failures()
        let done = DispatchGroup()
        for thread in 0..<8 {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                var generator = SystemRandomNumberGenerator()
                for round in 0..<10 {
                    for testCase in cases.shuffled(using: &generator) where shared.encode(testCase.text) != testCase.small {
                        failures.record("thread \(thread) round \(round): \(testCase.testDescription)")
                    }
                }
            }
        }
        done.wait()
        let found = failures.list.withLock { $0 }
        #expect(found.isEmpty, "\(found.count) wrong encodings, first \(found.prefix(3))")
    }
}

private final class Failures: Sendable {
    let list = Mutex<[String]>([])
    func record(_ failure: String) { list.withLock { $0.append(failure) } }
}
