import ArgumentParser
import CLinux
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
            weights, and for --model if given. Resident memory after each case is compared with the size of the F32 \
            weights (it keeps the workspace of the largest batch so far). A shared machine's speed drifts, so each case's "of peak" divides \
            by the best shape's sgemm speed sampled in turn with that case's forward passes (medians of both).
            """)

    @Option(help: "Also benchmark this model directory (Hugging Face gpt2 layout).") var model: String?
    @Option(help: "Sequence lengths in tokens.") var lengths: String = "128,256,512"
    @Option(help: "Batch sizes (messages per forward pass).") var batches: String = "1,8"
    @Option(help: "Minimum seconds spent timing each case.") var seconds: Double = 2

    func run() throws {
        let report = BLASSetup.selectBestCore()
        print("# \(report)")
        let (peak, shape) = sgemmPeak()
        print(String(format: "sgemm peak: %.1f GFLOP/s (best of the shapes above)\n", peak))
        try benchmark(name: "gpt2-124M shape (random weights)", model: GPTModel(config: .gpt2Small, seed: 1), peakShape: shape)
        if let model {
            try benchmark(name: model, model: GPTModel.load(directory: URL(fileURLWithPath: model)), peakShape: shape)
        }
    }

    func benchmark(name: String, model: GPTModel, peakShape: SgemmShape) throws {
        let runner = GPTRunner(model: model)
        let c = model.config
        let weightsMB = Double(model.layout.totalCount * 4) / 1e6
        print("## \(name): \(c.layers) layers, \(c.channels) wide, \(c.heads) heads; F32 weights \(String(format: "%.0f", weightsMB)) MB")
        print("tokens  batch   ms/msg   ms/batch   GFLOP/s   sgemm peak   of peak   resident/weights")
        var rng = SeededRandom(seed: 9)
        for T in lengths.split(separator: ",").compactMap({ Int($0) }) where T <= c.maxPositions {
            for B in batches.split(separator: ",").compactMap({ Int($0) }) {
                let seqs = (0..<B).map { _ in (0..<T).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) } }
                let (t, peak) = try timeAlongsidePeak(peakShape) { try runner.withHiddenStates(seqs) { h, _ in h[0] } }
                let flops = Double(c.layers) * (24 * Double(B * T) * Double(c.channels * c.channels) + 4 * Double(c.channels) * Double(B * T * T))
                let gflops = flops / t / 1e9
                print(String(format: "%6d  %5d  %7.1f  %9.1f  %8.1f   %10.1f   %5.1f%%   %15.2fx", T, B, t * 1000 / Double(B), t * 1000,
                             gflops, peak, 100 * gflops / peak, residentMB() / weightsMB))
            }
        }
        print("")
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

    /// Median seconds of `body` (on the engine's threads) and median GFLOP/s of `shape` (on OpenBLAS's), sampled
    /// alternately for at least `seconds`, so that both see the same machine.
    func timeAlongsidePeak(_ shape: SgemmShape, _ body: () throws -> Float) rethrows -> (seconds: Double, peak: Double) {
        var seconds: [Double] = [], peaks: [Double] = []
        var sink: Float = 0
        try shape.withBuffers { sgemm in
            BLASSetup.useEngineThreads()
            sink += try body()  // warm-up
            let start = Date()
            // Rounds of half a second of forward passes, then three sgemm calls.
            repeat {
                BLASSetup.useEngineThreads()
                let round = Date()
                repeat {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    sink += try body()
                    seconds.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                } while Date().timeIntervalSince(round) < 0.5
                for _ in 0..<3 { peaks.append(sgemm()) }
                usleep(150_000)
            } while Date().timeIntervalSince(start) < self.seconds || seconds.count < 5
        }
        BLASSetup.useEngineThreads()
        if sink.isNaN { print("(NaN in output)") }
        return (seconds.sorted()[seconds.count / 2], peaks.sorted()[peaks.count / 2])
    }

    /// The peak without printing each shape.
    static func sgemmPeakQuiet() -> Double { EngineBench(seconds: 1).sgemmPeak(verbose: false).gflops }

    init() {}
    init(seconds: Double) { self.seconds = seconds }

    /// Best sgemm GFLOP/s over a few large shapes, including the ones a batched GPT-2 forward runs, and the shape
    /// that reached it.
    func sgemmPeak(verbose: Bool = true) -> (gflops: Double, shape: SgemmShape) {
        var best = (gflops: 0.0, shape: SgemmShape(m: 1, n: 1, k: 1))
        if verbose { print("sgemm shapes (M×N×K): GFLOP/s") }
        for (m, n, k) in [(2048, 2048, 2048), (4096, 3072, 768), (2048, 768, 3072), (256, 3072, 768)] {
            let shape = SgemmShape(m: m, n: n, k: k)
            let g = shape.measure(seconds: seconds)
            if verbose { print(String(format: "  %4d×%4d×%4d: %6.1f", m, n, k, g)) }
            if g > best.gflops { best = (g, shape) }
        }
        return best
    }
}

/// One sgemm shape, timed with OpenBLAS's own threads on every core (its peak), on buffers of its own.
struct SgemmShape {
    let m, n, k: Int

    /// GFLOP/s: the median call over at least `seconds`.
    func measure(seconds: Double) -> Double {
        withBuffers { sgemm in
            var samples: [Double] = []
            let start = Date()
            repeat { samples.append(sgemm()) } while Date().timeIntervalSince(start) < seconds || samples.count < 3
            usleep(150_000)
            return samples.sorted()[samples.count / 2]
        }
    }

    /// Calls `body` with a function that runs this shape once on OpenBLAS's own threads and returns its GFLOP/s
    /// (after one warm-up call). OpenBLAS's pool busy-waits for a while after a call, so `body` should wait that
    /// out (`usleep(150_000)`) before timing anything else on the cores. The buffers are handed back to the
    /// system afterwards, so that resident memory counts the engine only.
    func withBuffers<R>(_ body: (() -> Double) throws -> R) rethrows -> R {
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        defer { malloc_trim(0) }
        let run = { () -> Double in
            BLASSetup.useOpenBLASThreads()
            let t0 = DispatchTime.now().uptimeNanoseconds
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
            return 2 * Double(m * n * k) / Double(DispatchTime.now().uptimeNanoseconds - t0)  // FLOP/ns = GFLOP/s
        }
        _ = run()
        return try body(run)
    }
}

func residentMB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Double(line.split(separator: " ")[1]).map { $0 / 1024 } ?? 0
}
