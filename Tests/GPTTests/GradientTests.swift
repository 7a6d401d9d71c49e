import Foundation
import Testing
@testable import GPT

/// Central finite differences against the analytical gradients of every backward pass.
/// Each check perturbs up to `samples` entries of a buffer and compares (L(x+ε) − L(x−ε)) / 2ε with the
/// backward pass's value. Float32 throughout, so the tolerance is relative with a small absolute floor.
@Suite struct GradientTests {
    struct Buffer {
        let p: UnsafeMutablePointer<Float>
        let count: Int
        init(_ count: Int, _ rng: inout SeededRandom, scale: Float = 1) {
            self.count = count
            p = .allocate(capacity: count)
            for i in 0..<count { p[i] = scale * rng.nextNormal() }
        }
        init(zeros count: Int) { self.count = count; p = .allocate(capacity: count); p.initialize(repeating: 0, count: count) }
        func free() { p.deallocate() }
        func zero() { p.update(repeating: 0, count: count) }
    }

    /// Checks gradient `analytic[i]` of `loss` w.r.t. `x[i]` for sampled i; returns the worst relative error.
    func check(_ name: String, _ x: UnsafeMutablePointer<Float>, _ analytic: UnsafePointer<Float>, count: Int,
               samples: Int = 24, eps: Float = 1e-2, tolerance: Double = 2e-2, loss: () -> Double) {
        var rng = SeededRandom(seed: UInt64(count))
        var worst = 0.0
        var checked = 0
        for s in 0..<min(samples, count) {
            let i = samples >= count ? s : Int(rng.next() % UInt64(count))
            let saved = x[i]
            x[i] = saved + eps; let up = loss()
            x[i] = saved - eps; let down = loss()
            x[i] = saved
            let numeric = (up - down) / Double(2 * eps), a = Double(analytic[i])
            let err = abs(numeric - a) / max(abs(numeric), abs(a), 1e-2)
            worst = max(worst, err)
            checked += 1
            #expect(err < tolerance, "\(name)[\(i)]: analytic \(a), numeric \(numeric)")
        }
        #expect(checked > 0)
    }

    /// Σ out·R: a loss whose gradient w.r.t. out is R.
    func project(_ out: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(out[i]) * Double(r[i]) }
        return s
    }

    @Test func layernorm() {
        var rng = SeededRandom(seed: 1)
        let N = 5, C = 12
        let inp = Buffer(N * C, &rng), w = Buffer(C, &rng), b = Buffer(C, &rng), r = Buffer(N * C, &rng)
        let out = Buffer(zeros: N * C), mean = Buffer(zeros: N), rstd = Buffer(zeros: N)
        let dinp = Buffer(zeros: N * C), dw = Buffer(zeros: C), db = Buffer(zeros: C)
        defer { for x in [inp, w, b, r, out, mean, rstd, dinp, dw, db] { x.free() } }
        let f = { layernormForward(out.p, mean.p, rstd.p, inp.p, w.p, b.p, N: N, C: C, eps: 1e-5); return project(out.p, r.p, N * C) }
        _ = f()
        layernormBackward(dinp.p, dw.p, db.p, r.p, inp.p, w.p, mean.p, rstd.p, N: N, C: C)
        check("dinp", inp.p, dinp.p, count: N * C, eps: 1e-3, loss: f)
        check("dweight", w.p, dw.p, count: C, loss: f)
        check("dbias", b.p, db.p, count: C, loss: f)
    }

    @Test func matmul() {
        var rng = SeededRandom(seed: 2)
        let N = 7, IC = 9, OC = 11
        let inp = Buffer(N * IC, &rng), w = Buffer(IC * OC, &rng), b = Buffer(OC, &rng), r = Buffer(N * OC, &rng)
        let out = Buffer(zeros: N * OC), dinp = Buffer(zeros: N * IC), dw = Buffer(zeros: IC * OC), db = Buffer(zeros: OC)
        defer { for x in [inp, w, b, r, out, dinp, dw, db] { x.free() } }
        let f = { matmulForward(out.p, inp.p, w.p, b.p, N: N, IC: IC, OC: OC); return project(out.p, r.p, N * OC) }
        matmulBackward(dinp.p, dw.p, db.p, r.p, inp.p, w.p, N: N, IC: IC, OC: OC)
        check("dinp", inp.p, dinp.p, count: N * IC, loss: f)
        check("dweight", w.p, dw.p, count: IC * OC, loss: f)
        check("dbias", b.p, db.p, count: OC, loss: f)
    }

    /// Lengths on both sides of the row blocks (`attentionRowBlock` = 64) the attention is computed in.
    @Test func attentionWithVariableLengths() {
        var rng = SeededRandom(seed: 3)
        let batch = PackedBatch(lengths: [4, 1, 6, 64, 150]), NH = 2, C = 8, N = batch.tokenCount
        let qkv = Buffer(N * 3 * C, &rng), r = Buffer(N * C, &rng)
        let out = Buffer(zeros: N * C), att = Buffer(zeros: NH * batch.attentionCount)
        let dqkv = Buffer(zeros: N * 3 * C), scratch = Buffer(zeros: attentionBackwardScratchCount(maxLength: 150))
        defer { for x in [qkv, r, out, att, dqkv, scratch] { x.free() } }
        let f = { attentionForward(out.p, att.p, qkv.p, batch, NH: NH, C: C); return project(out.p, r.p, N * C) }
        _ = f()
        // The forward against softmax(q·kᵀ/√hs, causal)·v written out plainly.
        let hs = C / NH
        var worst: Float = 0
        for (start, T) in zip(batch.starts, batch.lengths) {
            for h in 0..<NH {
                for i in 0..<T {
                    let qi = qkv.p + (start + i) * 3 * C + h * hs
                    let s = (0...i).map { j in (0..<hs).reduce(Float(0)) { $0 + qi[$1] * qkv.p[(start + j) * 3 * C + C + h * hs + $1] } / Float(hs).squareRoot() }
                    let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                    for c in 0..<hs {
                        let y = (0...i).reduce(Float(0)) { $0 + e[$1] / z * qkv.p[(start + $1) * 3 * C + 2 * C + h * hs + c] }
                        worst = max(worst, abs(y - out.p[(start + i) * C + h * hs + c]))
                    }
                }
            }
        }
        #expect(worst < 1e-5)
        attentionBackward(dqkv.p, scratch.p, r.p, qkv.p, att.p, batch, NH: NH, C: C)
        check("dqkv", qkv.p, dqkv.p, count: N * 3 * C, samples: 100, eps: 1e-2, loss: f)
    }

    @Test func gelu() {
        var rng = SeededRandom(seed: 4)
        let n = 71  // four 16-lane blocks and a 7-lane tail
        let inp = Buffer(n, &rng, scale: 2), r = Buffer(n, &rng), out = Buffer(zeros: n), dinp = Buffer(zeros: n)
        defer { for x in [inp, r, out, dinp] { x.free() } }
        let f = { geluForward(out.p, inp.p, count: n); return project(out.p, r.p, n) }
        geluBackward(dinp.p, inp.p, r.p, count: n)
        check("dinp", inp.p, dinp.p, count: n, samples: n, eps: 1e-3, loss: f)
    }

    @Test func encoder() {
        var rng = SeededRandom(seed: 5)
        let batch = PackedBatch(lengths: [3, 2]), C = 4, V = 6, maxT = 4
        let tokens: [Int32] = [1, 5, 1, 0, 5]
        let wte = Buffer(V * C, &rng), wpe = Buffer(maxT * C, &rng), r = Buffer(batch.tokenCount * C, &rng)
        let out = Buffer(zeros: batch.tokenCount * C), dwte = Buffer(zeros: V * C), dwpe = Buffer(zeros: maxT * C)
        defer { for x in [wte, wpe, r, out, dwte, dwpe] { x.free() } }
        let f = { tokens.withUnsafeBufferPointer { encoderForward(out.p, $0.baseAddress!, batch, wte.p, wpe.p, C: C) }; return project(out.p, r.p, batch.tokenCount * C) }
        tokens.withUnsafeBufferPointer { encoderBackward(dwte.p, dwpe.p, r.p, $0.baseAddress!, batch, C: C) }
        check("dwte", wte.p, dwte.p, count: V * C, samples: V * C, loss: f)
        check("dwpe", wpe.p, dwpe.p, count: maxT * C, samples: maxT * C, loss: f)
    }

    /// The whole classifier in each training scope: every trainable tensor and the head.
    @Test(arguments: [TrainableScope.headOnly, .lastBlocks(1), .all])
    func wholeClassifier(scope: TrainableScope) throws {
        let model = GPTModel(config: tinyConfig, seed: 11, randomizeAll: true)
        let net = ClassifierNetwork(model: model, scope: scope, seed: 2)
        let input = ClassifierInput.tokens([[3, 9, 27, 4, 60], [8], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
        let labels = [1, 0, 1], weights: [Float] = [1, 0.5, 2]
        net.zeroGradients()
        _ = try net.forwardBackward(input, labels: labels, weights: weights)
        let grads = Array(net.gradients), headGrads = Array(net.headGradients)
        let f = { Double(try! net.forwardBackward(input, labels: labels, weights: weights).loss) }
        headGrads.withUnsafeBufferPointer { check("head", net.head.baseAddress!, $0.baseAddress!, count: net.head.count, eps: 1e-2, loss: f) }
        if scope == .headOnly { #expect(net.gradients.isEmpty); return }
        // Each trainable tensor of the body, by name, so a failure says where.
        for (name, shape, offset) in model.layout.tensors where offset >= net.trainableOffset {
            let n = shape.reduce(1, *)
            grads.withUnsafeBufferPointer { g in
                check(name, model.parameters.baseAddress! + offset, g.baseAddress! + (offset - net.trainableOffset), count: n,
                      samples: 6, eps: 1e-2, tolerance: 3e-2, loss: f)
            }
        }
    }

    /// The bag head beside the GPT head, with each objective: the bag's weights, the GPT head and the body.
    @Test(arguments: [BagObjective.separate, .joint])
    func classifierWithABagHead(objective: BagObjective) throws {
        let model = GPTModel(config: tinyConfig, seed: 13, randomizeAll: true)
        let bag = TokenBag(buckets: 32, tokens: 8, bigrams: true)
        var rng = SeededRandom(seed: 9)
        let initial = (0..<(ClassifierNetwork.classes * bag.buckets)).map { _ in rng.nextNormal() }
        let net = ClassifierNetwork(model: model, scope: .lastBlocks(1), seed: 2, bag: bag, bagWeights: initial, bagObjective: objective)
        let sequences: [[Int32]] = [[3, 9, 27, 4, 60], [8], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]
        let bags = sequences.map { bag.features($0) }
        let labels = [1, 0, 1], weights: [Float] = [1, 0.5, 2]
        net.zeroGradients()
        _ = try net.forwardBackward(.tokens(sequences), labels: labels, weights: weights, bags: bags)
        let grads = Array(net.gradients), headGrads = Array(net.headGradients), bagGrads = Array(net.bagGradients)
        #expect(bagGrads.contains { $0 != 0 })
        let f = { Double(try! net.forwardBackward(.tokens(sequences), labels: labels, weights: weights, bags: bags).loss) }
        bagGrads.withUnsafeBufferPointer { check("bag", net.bagWeights.baseAddress!, $0.baseAddress!, count: net.bagWeights.count, samples: 64, loss: f) }
        headGrads.withUnsafeBufferPointer { check("head", net.head.baseAddress!, $0.baseAddress!, count: net.head.count, loss: f) }
        let (name, shape, offset) = model.layout.tensors.first { $0.name.hasSuffix("mlp.c_fc.weight") && $0.offset >= net.trainableOffset }!
        grads.withUnsafeBufferPointer { g in
            check(name, model.parameters.baseAddress! + offset, g.baseAddress! + (offset - net.trainableOffset),
                  count: shape.reduce(1, *), samples: 6, tolerance: 3e-2, loss: f)
        }
        // The classifier's probabilities are the softmax of both heads' logits summed, whatever the objective.
        let both = try net.probabilities(.tokens(sequences), bags: bags)
        let alone = ClassifierNetwork(model: model, scope: .lastBlocks(1), head: net.headValues)
        let gptOnly = try alone.probabilities(.tokens(sequences))
        for b in 0..<sequences.count {
            let V = net.bagWeights, D = bag.buckets
            let bagLogit = { (k: Int) in bags[b].value * bags[b].slots.reduce(Float(0)) { $0 + V[k * D + Int($1)] } }
            let logOdds = log(gptOnly[b][1] / gptOnly[b][0]) + bagLogit(1) - bagLogit(0)
            #expect(abs(log(both[b][1] / both[b][0]) - logOdds) < 1e-3)
        }
    }

    /// Training from cached frozen features gives exactly what training from tokens gives.
    @Test func frozenFeaturesMatchTheFullForward() throws {
        let model = GPTModel(config: tinyConfig, seed: 12, randomizeAll: true)
        let seqs: [[Int32]] = [[3, 9, 27, 4], [8, 8, 1]]
        for scope in [TrainableScope.headOnly, .lastBlocks(1)] {
            let net = ClassifierNetwork(model: model, scope: scope, seed: 3)
            let fromTokens = try net.probabilities(.tokens(seqs))
            let features = try net.frozenFeatures(seqs)
            let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: features.reduce(0) { $0 + $1.count })
            defer { storage.deallocate() }
            var ptrs: [UnsafePointer<Float>] = [], at = 0
            for f in features { _ = UnsafeMutableBufferPointer(rebasing: storage[at...]).initialize(from: f); ptrs.append(UnsafePointer(storage.baseAddress! + at)); at += f.count }
            let cached = scope == .headOnly ? try net.probabilities(.pooled(ptrs))
                                            : try net.probabilities(.residuals(ptrs, lengths: seqs.map(\.count)))
            for (a, b) in zip(fromTokens.joined(), cached.joined()) { #expect(abs(a - b) < 1e-5) }
        }
    }
}
