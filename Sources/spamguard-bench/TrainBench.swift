import ArgumentParser
import Foundation
import GPT
import Training

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Finetuning throughput (examples/s) for the GPT-2 124M shape, with and without the frozen-prefix cache.",
        discussion: """
            Random weights and tokens, batch 8, --tokens per example, the last --blocks blocks trainable. \
            "cached" starts each step from the stored output of the frozen blocks (what every epoch after the \
            first does); "uncached" runs the frozen blocks forward in every step, as a plain implementation does. \
            GFLOP/s counts the multiply-adds actually needed and is compared with OpenBLAS's sgemm peak.
            """)

    @Option(help: "Tokens per example.") var tokens = 256
    @Option(help: "Trainable blocks.") var blocks = 2
    @Option(help: "Steps timed per case.") var steps = 6

    func run() throws {
        print("# \(BLASSetup.selectBestCore())")
        BLASSetup.useOpenBLASThreads()
        let peak = EngineBench.sgemmPeakQuiet()
        BLASSetup.useEngineThreads()
        let config = GPTConfig.gpt2Small
        let model = GPTModel(config: config, seed: 1)
        let net = ClassifierNetwork(model: model, scope: .lastBlocks(blocks), seed: 1)
        var rng = SeededRandom(seed: 2)
        let B = 8, T = tokens, C = Double(config.channels), L = config.layers
        let batches = (0..<steps).map { _ in (0..<B).map { _ in (0..<T).map { _ in Int32(rng.next() % 50257) } } }
        let labels = (0..<B).map { $0 % 2 }

        // Multiply-adds ×2: frozen blocks forward; trainable full blocks forward + 2× backward; the pooled last
        // block needs k|v for every row (4TC² forward, 8TC² backward) plus its single-row work.
        let block = 24 * Double(T) * C * C + 4 * Double(T * T) * C
        let frozen = Double(L - blocks) * block
        let trained = Double(blocks - 1) * 3 * block + 12 * Double(T) * C * C
        print(String(format: "sgemm peak %.1f GFLOP/s; GPT-2 124M shape, %d tokens, batch %d, last %d blocks trainable", peak, T, B, blocks))
        print("case       examples/s   ms/step   GFLOP/s   of peak")

        // Uncached: tokens in, the frozen blocks run every step.
        let uncached = try timeSteps { i in _ = try net.forwardBackward(.tokens(batches[i]), labels: labels) }
        report("uncached", uncached, flops: Double(B) * (frozen + trained), B: B, peak: peak)

        // Cached: the frozen blocks' output for each example, computed once beforehand.
        let features = try batches.map { try net.frozenFeatures($0) }
        let cached = try timeSteps { i in
            try withPointers(features[i]) { _ = try net.forwardBackward(.residuals($0, lengths: [Int](repeating: T, count: B)), labels: labels) }
        }
        report("cached", cached, flops: Double(B) * trained, B: B, peak: peak)
        print(String(format: "the cache makes a step %.1fx faster", uncached / cached))
    }

    func timeSteps(_ body: (Int) throws -> Void) throws -> Double {
        try body(0)  // warm-up: workspace allocation
        let t0 = DispatchTime.now().uptimeNanoseconds
        for i in 0..<steps { try body(i) }
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(steps)
    }

    func report(_ name: String, _ seconds: Double, flops: Double, B: Int, peak: Double) {
        let g = flops / seconds / 1e9
        print(name.padding(toLength: 9, withPad: " ", startingAt: 0)
              + String(format: "  %10.1f  %8.1f  %8.1f   %5.1f%%", Double(B) / seconds, seconds * 1000, g, 100 * g / peak))
    }
}

func withPointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) throws -> R) rethrows -> R {
    let total = arrays.reduce(0) { $0 + $1.count }
    let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
    defer { storage.deallocate() }
    var pointers: [UnsafePointer<Float>] = [], at = 0
    for a in arrays {
        _ = UnsafeMutableBufferPointer(rebasing: storage[at..<(at + a.count)]).initialize(from: a)
        pointers.append(UnsafePointer(storage.baseAddress! + at))
        at += a.count
    }
    return try body(pointers)
}
