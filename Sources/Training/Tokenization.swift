import Dispatch
import GPT
import Foundation
import MailText
import Tokenizer

extension LoadedExamples {
    /// Extracts each example's text and tokenizes it (at most `maxTokens` tokens), on all cores.
    /// `progress(done, total)` is called from one thread at a time.
    public func tokenized(_ tokenizer: GPT2Tokenizer, options: ExtractionOptions, maxTokens: Int,
                          progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) -> LabeledSequences {
        let n = examples.count
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: n)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        let done = Counter()
        nonisolated(unsafe) let out = results
        let examples = self.examples
        let threads = ProcessInfo.processInfo.activeProcessorCount
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in stride(from: t, to: n, by: threads) {
                out[i] = tokenizer.encode(examples[i].text(options), maxTokens: maxTokens)
                let d = done.increment()
                if d % 64 == 0 || d == n { progress(d, n) }
            }
        }
        return LabeledSequences(sequences: Array(results), labels: examples.map(\.label))
    }

    /// A seeded, stratified split: `fraction` of each class goes to the second part.
    public func split(holdOut fraction: Double, seed: UInt64) -> (LoadedExamples, LoadedExamples) {
        var rng = GPT.SeededRandom(seed: seed)
        var keep = LoadedExamples(), held = LoadedExamples()
        keep.skipped = skipped
        for label in [0, 1] {
            let idx = examples.indices.filter { examples[$0].label == label }.shuffled(using: &rng)
            let h = Int((Double(idx.count) * fraction).rounded())
            held.examples += idx.prefix(h).map { examples[$0] }
            keep.examples += idx.dropFirst(h).map { examples[$0] }
        }
        return (keep, held)
    }
}

/// A thread-safe counter for progress reports.
final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
