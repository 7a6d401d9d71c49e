import Foundation
import Testing
@testable import GPT
import VectorKernels

@Suite struct ForwardTests {
    let sequences: [[Int32]] = [[5, 17, 3, 66, 0], [42], (0..<16).map { Int32($0 * 4 % 67) }, [1, 2, 3, 4, 5, 6, 7, 8, 9]]

    @Test func logitsAndLossMatchNumpyReference() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = GPTModel(config: tinyConfig, seed: 7, randomizeAll: true)
        try model.save(to: dir)
        let script = Bundle.module.url(forResource: "gpt2_reference", withExtension: "py", subdirectory: "Reference")!
        let out = try runPython(script, [dir.path], input: try JSONEncoder().encode(sequences))
        struct Reference: Decodable { let logits: [[[Double]]]; let loss: [Double] }
        let ref = try JSONDecoder().decode(Reference.self, from: out)

        // The reloaded model, all sequences in one packed batch.
        let runner = GPTRunner(model: try GPTModel.load(directory: dir))
        let V = tinyConfig.vocabSize
        var worst = 0.0
        try runner.withLogits(sequences) { logits, batch in
            for (b, start) in batch.starts.enumerated() {
                for t in 0..<batch.lengths[b] {
                    for v in 0..<V {
                        let mine = Double(logits[(start + t) * V + v]), theirs = ref.logits[b][t][v]
                        worst = max(worst, abs(mine - theirs) / max(1, abs(theirs)))
                    }
                }
            }
        }
        #expect(worst < 1e-4, "largest logit difference \(worst)")
        let losses = try runner.languageModelLoss(sequences)
        for (mine, theirs) in zip(losses, ref.loss) { #expect(abs(mine.loss - theirs) < 1e-4) }
        #expect(losses.map(\.predictions) == sequences.map { $0.count - 1 })
    }

    @Test func batchingDoesNotChangeResults() throws {
        let runner = GPTRunner(model: GPTModel(config: tinyConfig, seed: 3, randomizeAll: true))
        let together = try runner.languageModelLoss(sequences).map(\.loss)
        let alone = try sequences.map { try runner.languageModelLoss([$0])[0].loss }
        for (a, b) in zip(together, alone) { #expect(abs(a - b) < 1e-5) }
    }

    @Test func rejectsBadTokensAndLengths() throws {
        let runner = GPTRunner(model: GPTModel(config: tinyConfig, seed: 1))
        #expect(throws: ModelError.tokenOutOfRange(token: 67, vocabSize: 67)) { try runner.languageModelLoss([[1, 67]]) }
        #expect(throws: ModelError.sequenceTooLong(length: 17, maxPositions: 16)) {
            try runner.languageModelLoss([[Int32](repeating: 1, count: 17)])
        }
    }

    @Test func fastKernelsAreAccurate() {
        var worstExp: Float = 0, worstTanh: Float = 0
        var x: Float = -80
        while x < 80 {
            worstExp = max(worstExp, abs(fastExp(x) - Foundation.exp(x)) / Foundation.exp(x))
            worstTanh = max(worstTanh, abs(fastTanh(SIMD16(repeating: x / 8))[0] - Foundation.tanh(x / 8)))
            x += 0.0137
        }
        #expect(worstExp < 5e-7)
        #expect(worstTanh < 5e-7)
    }

    @Test func vectorExpAndSoftmaxMatchTheScalarOnes() {
        var worst: Float = 0
        for base in stride(from: Float(-90), to: 90, by: 0.37) {
            let x = SIMD16<Float>((0..<16).map { base + Float($0) * 0.0213 })
            let e = fastExp(x)
            for i in 0..<16 { worst = max(worst, abs(e[i] - fastExp(x[i])) / fastExp(x[i])) }
        }
        #expect(worst < 1e-6)
        for n in [1, 5, 16, 17, 40] {
            var row = (0..<n).map { Float(($0 * 7919) % 23) * 0.5 - 4 }
            let m = row.max()!, e = row.map { Foundation.exp($0 - m) }, sum = e.reduce(0, +)
            row.withUnsafeMutableBufferPointer { softmaxInPlace($0.baseAddress!, n) }
            for i in 0..<n { #expect(abs(row[i] - e[i] / sum) < 1e-6, "n=\(n) i=\(i)") }
        }
    }
}

@Suite struct PooledForwardTests {
    /// The classifier computes its last block on the pooled rows only; that must equal the full forward's last rows.
    @Test func pooledLastBlockEqualsTheFullForward() throws {
        let model = GPTModel(config: tinyConfig, seed: 21, randomizeAll: true)
        let net = ClassifierNetwork(model: model, scope: .headOnly, seed: 4)
        let seqs: [[Int32]] = [[5, 17, 3, 66, 0], [42], (0..<16).map { Int32($0 * 5 % 67) }]
        let probs = try net.probabilities(.tokens(seqs))
        let C = tinyConfig.channels
        let expected: [[Float]] = try GPTRunner(model: model).withHiddenStates(seqs) { hidden, batch in
            batch.lastRows.map { row in
                let logits = (0..<2).map { k in (0..<C).reduce(net.head[2 * C + k]) { $0 + net.head[k * C + $1] * hidden[row * C + $1] } }
                let m = logits.max()!, e = logits.map { Foundation.exp($0 - m) }
                return e.map { $0 / e.reduce(0, +) }
            }
        }
        for (a, b) in zip(probs.joined(), expected.joined()) { #expect(abs(a - b) < 1e-5) }
    }
}

@Suite struct CallingThreadKernelTests {
    @Test func kernelsStayOnTheCallingThreadOnlyInsideTheScope() {
        #expect(Kernels.threads == Kernels.allThreads)
        BLASSetup.withKernelsOnCallingThread {
            #expect(Kernels.threads == 1)
            BLASSetup.withKernelsOnCallingThread { #expect(Kernels.threads == 1) }
            #expect(Kernels.threads == 1, "a nested scope restores the outer one")
        }
        #expect(Kernels.threads == Kernels.allThreads)
    }

    /// Wide enough that matrix products split across cores outside the scope; the results must not change
    /// beyond rounding (OpenBLAS's kernels may sum a column block's edge in another order than the whole).
    @Test func resultsAreTheSameOnOneThread() throws {
        let config = GPTConfig(vocabSize: 67, maxPositions: 64, channels: 128, layers: 1, heads: 4)
        let runner = GPTRunner(model: GPTModel(config: config, seed: 8, randomizeAll: true))
        let sequences: [[Int32]] = [(0..<64).map { Int32($0 % 67) }, (0..<40).map { Int32(($0 * 7) % 67) }]
        let everyCore = try runner.languageModelLoss(sequences).map(\.loss)
        let oneThread = try BLASSetup.withKernelsOnCallingThread { try runner.languageModelLoss(sequences).map(\.loss) }
        #expect(zip(everyCore, oneThread).allSatisfy { abs($0 - $1) < 1e-6 * abs($0) }, "\(everyCore) vs \(oneThread)")
    }
}
