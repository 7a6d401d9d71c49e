import Foundation
import Testing
@testable import GPT

/// Every instruction-set tier of the elementwise kernels this CPU runs gives the baseline (SSE2) tier's
/// results, on lengths with short tails; the baseline itself is checked against plain formulas here and by
/// the finite-difference and reference-logit tests elsewhere.
@Suite struct ElementwiseKernelsTests {
    let baseline = ElementwiseKernels(tier: .sse2)!

    /// Runs `body` with a fresh copy of `values` for the baseline and for each other supported tier, and
    /// expects the buffers it leaves to agree within `tolerance` (relative, with an absolute floor of 1e-6).
    func expectTiersAgree(_ values: [[Float]], tolerance: Float = 2e-6,
                          _ body: (ElementwiseKernels, [UnsafeMutablePointer<Float>]) -> Void) {
        func run(_ kernels: ElementwiseKernels) -> [[Float]] {
            let buffers = values.map { v -> UnsafeMutablePointer<Float> in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: max(v.count, 1))
                p.initialize(from: v, count: v.count)
                return p
            }
            defer { buffers.forEach { $0.deallocate() } }
            body(kernels, buffers)
            return zip(buffers, values).map { Array(UnsafeBufferPointer(start: $0, count: $1.count)) }
        }
        let expected = run(baseline)
        for tier in ElementwiseKernels.supportedTiers() where tier != .sse2 {
            let got = run(ElementwiseKernels(tier: tier)!)
            for (b, (e, g)) in zip(expected, got).enumerated() {
                let worst = zip(e, g).map { abs($0 - $1) / max(abs($0), 1e-6) }.max() ?? 0
                #expect(worst <= tolerance, "tier \(tier), buffer \(b): worst relative difference \(worst)")
            }
        }
    }

    func random(_ n: Int, _ rng: inout SeededRandom, scale: Float = 1) -> [Float] { (0..<n).map { _ in scale * rng.nextNormal() } }

    @Test func thisCPUsWidestTierIsTheDefault() {
        let tiers = ElementwiseKernels.supportedTiers()
        #expect(tiers.first == .sse2)
        if ProcessInfo.processInfo.environment["SPAMGUARD_VECTOR_TIER"] == nil { #expect(ElementwiseKernels.best.tier == tiers.last) }
        // A CPU without the flags gets no wider tier than it can run.
        #expect(ElementwiseKernels.supportedTiers(flags: ["avx", "avx2"]) == [.sse2])
    }

    @Test func geluMatchesItsFormulaOnEveryTier() {
        var rng = SeededRandom(seed: 11)
        let n = 16 * 5 + 7
        let x = random(n, &rng, scale: 3), dout = random(n, &rng)
        var out = [Float](repeating: 0, count: n)
        baseline.gelu(&out, x, n)
        for i in 0..<n {
            let exact = 0.5 * x[i] * (1 + tanh(0.797_884_56 * (x[i] + 0.044715 * x[i] * x[i] * x[i])))
            #expect(abs(out[i] - exact) < 1e-6 * max(1, abs(exact)), "gelu(\(x[i])) = \(out[i]), not \(exact)")
        }
        expectTiersAgree([x, [Float](repeating: 0, count: n)]) { k, b in k.gelu(b[1], b[0], n) }
        // With a bias: out = gelu(x + bias), and x keeps x + bias (or, in place, ends as out).
        let bias = random(n, &rng)
        var pre = x, fused = [Float](repeating: 0, count: n), inPlace = x
        baseline.biasGelu(&fused, &pre, bias, n)
        inPlace.withUnsafeMutableBufferPointer { baseline.biasGelu($0.baseAddress!, $0.baseAddress!, bias, n) }
        var shifted = [Float](repeating: 0, count: n)
        baseline.gelu(&shifted, zip(x, bias).map { $0 + $1 }, n)
        #expect(pre == zip(x, bias).map { $0 + $1 } && fused == shifted && inPlace == shifted)
        expectTiersAgree([x, bias, [Float](repeating: 0, count: n)]) { k, b in k.biasGelu(b[2], b[0], b[1], n) }
        expectTiersAgree([x, dout, random(n, &rng)]) { k, b in k.geluBackward(b[2], b[0], b[1], n) }
    }

    @Test func layernormAgreesOnEveryTier() {
        var rng = SeededRandom(seed: 12)
        let N = 5, C = 16 * 3 + 5
        let x = random(N * C, &rng, scale: 2), w = random(C, &rng), bias = random(C, &rng), dout = random(N * C, &rng)
        expectTiersAgree([x, w, bias, [Float](repeating: 0, count: N * C), [Float](repeating: 0, count: 2 * N)]) { k, b in
            k.layernormRows(b[3], b[4], b[4] + N, b[0], b[1], b[2], 0..<N, C, 1e-5)
        }
        // Backward needs the forward's mean and rstd: take them from the baseline.
        var out = [Float](repeating: 0, count: N * C), stats = [Float](repeating: 0, count: 2 * N)
        stats.withUnsafeMutableBufferPointer { s in baseline.layernormRows(&out, s.baseAddress!, s.baseAddress! + N, x, w, bias, 0..<N, C, 1e-5) }
        expectTiersAgree([x, w, dout, stats, random(N * C, &rng), [Float](repeating: 0, count: 2 * C)], tolerance: 1e-5) { k, b in
            k.layernormBackwardRows(b[4], b[5], b[5] + C, b[2], b[0], b[1], b[3], b[3] + N, 0..<N, C)
        }
    }

    @Test func causalSoftmaxAgreesOnEveryTier() {
        var rng = SeededRandom(seed: 13)
        let T = 37
        let scores = random(T * T, &rng, scale: 4), grad = random(T * T, &rng)
        var rows = scores
        baseline.causalSoftmaxRows(&rows, T, 0..<T, T)
        for i in 0..<T {
            let sum = rows[(i * T)...(i * T + i)].reduce(0, +)
            #expect(abs(sum - 1) < 1e-5 && rows[(i * T + i + 1)..<(i * T + T)].allSatisfy { $0 == 0 }, "row \(i)")
        }
        expectTiersAgree([scores]) { k, b in k.causalSoftmaxRows(b[0], T, 3..<T, T) }
        expectTiersAgree([rows, grad]) { k, b in k.causalSoftmaxBackwardRows(b[1], b[0], T, 0..<T, T) }
    }

    @Test func adamwAgreesOnEveryTier() {
        var rng = SeededRandom(seed: 14)
        let n = 16 * 4 + 9
        let v = random(n, &rng).map { $0 * $0 * 1e-3 }
        expectTiersAgree([random(n, &rng), random(n, &rng), random(n, &rng, scale: 1e-2), v], tolerance: 1e-5) { k, b in
            k.adamwUpdate(values: b[0], gradients: b[1], m: b[2], v: b[3], count: n, beta1: 0.9, beta2: 0.999, epsilon: 1e-8,
                          stepSize: 1e-3, vScale: 1.5, decay: 1e-4)
        }
    }
}
