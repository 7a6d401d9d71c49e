import ArgumentParser
import COpenBLAS
import Foundation
import GPT

struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "GPT-2 forward pass: ms per message, GFLOP/s, and the share of OpenBLAS's sgemm peak measured in this run.",
        discussion: """
            Measures OpenBLAS sgemm on large shapes first (the peak this machine reaches), then the classifier's \
            forward pass (embeddings, all blocks, final LayerNorm; no LM head) for the GPT-2 124M shape with random \
            weights, and for --model if given. Resident memory is compared with the size of the F32 weights.
            """)

    @Option(help: "Also benchmark this model directory (Hugging Face gpt2 layout).") var model: String?
    @Option(help: "Sequence lengths in tokens.") var lengths: String = "128,256,512"
    @Option(help: "Batch sizes (messages per forward pass).") var batches: String = "1,8"
    @Option(help: "Minimum seconds spent timing each case.") var seconds: Double = 2

    func run() throws {
        let report = BLASSetup.selectBestCore()
        print("# \(report)")
        BLASSetup.useOpenBLASThreads()
        let peak = sgemmPeak()
        BLASSetup.useEngineThreads()
        print(String(format: "sgemm peak: %.1f GFLOP/s (best of the shapes above)\n", peak))
        try benchmark(name: "gpt2-124M shape (random weights)", model: GPTModel(config: .gpt2Small, seed: 1), peak: peak)
        if let model {
            try benchmark(name: model, model: GPTModel.load(directory: URL(fileURLWithPath: model)), peak: peak)
        }
    }

    func benchmark(name: String, model: GPTModel, peak: Double) throws {
        let runner = GPTRunner(model: model)
        let c = model.config
        let weightsMB = Double(model.layout.totalCount * 4) / 1e6
        print("## \(name): \(c.layers) layers, \(c.channels) wide, \(c.heads) heads; F32 weights \(String(format: "%.0f", weightsMB)) MB")
        print("tokens  batch   ms/msg   ms/batch   GFLOP/s   of peak")
        var rng = SeededRandom(seed: 9)
        for T in lengths.split(separator: ",").compactMap({ Int($0) }) where T <= c.maxPositions {
            for B in batches.split(separator: ",").compactMap({ Int($0) }) {
                let seqs = (0..<B).map { _ in (0..<T).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) } }
                let t = try time { try runner.withHiddenStates(seqs) { h, _ in h[0] } }
                let flops = Double(c.layers) * (24 * Double(B * T) * Double(c.channels * c.channels) + 4 * Double(c.channels) * Double(B * T * T))
                let gflops = flops / t / 1e9
                print(String(format: "%6d  %5d  %7.1f  %9.1f  %8.1f   %5.1f%%", T, B, t * 1000 / Double(B), t * 1000, gflops, 100 * gflops / peak))
            }
        }
        let rss = residentMB()
        print(String(format: "resident memory %.0f MB = %.2fx the F32 weights\n", rss, rss / weightsMB))
    }

    /// Median seconds of `body` over at least `seconds` (after one warm-up call).
    func time(_ body: () throws -> Float) rethrows -> Double {
        var sink: Float = try body()
        var samples: [Double] = []
        let start = Date()
        repeat {
            let t0 = DispatchTime.now().uptimeNanoseconds
            sink += try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        } while Date().timeIntervalSince(start) < seconds || samples.count < 3
        if sink.isNaN { print("(NaN in output)") }
        return samples.sorted()[samples.count / 2]
    }

    /// The peak without printing each shape.
    static func sgemmPeakQuiet() -> Double { EngineBench(seconds: 1).sgemmPeak(verbose: false) }

    init() {}
    init(seconds: Double) { self.seconds = seconds }

    /// Best sgemm GFLOP/s over a few large shapes, including the ones a batched GPT-2 forward runs.
    func sgemmPeak(verbose: Bool = true) -> Double {
        var best = 0.0
        if verbose { print("sgemm shapes (M×N×K): GFLOP/s") }
        for (m, n, k) in [(2048, 2048, 2048), (4096, 3072, 768), (2048, 768, 3072), (256, 3072, 768)] {
            let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
            var c = [Float](repeating: 0, count: m * n)
            let t = time {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
                return c[0]
            }
            let g = 2 * Double(m * n * k) / t / 1e9
            if verbose { print(String(format: "  %4d×%4d×%4d: %6.1f", m, n, k, g)) }
            best = max(best, g)
        }
        return best
    }
}

func residentMB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Double(line.split(separator: " ")[1]).map { $0 / 1024 } ?? 0
}
