import Foundation
import Testing
@testable import GPT

/// Several windows per example (WindowPooling.swift): the combination's backward by finite differences, and the
/// classifier's backward through it.
extension GradientTests {
    @Test(arguments: WindowPooling.allCases)
    func windowCombination(pooling: WindowPooling) {
        var rng = SeededRandom(seed: 21)
        let groups = [3, 1, 2], W = 6, B = 3, C = 5
        let inp = Buffer(W * C, &rng), r = Buffer(B * C, &rng), out = Buffer(zeros: B * C), dinp = Buffer(zeros: W * C)
        let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: B * C)
        defer { for x in [inp, r, out, dinp] { x.free() }; argmax.deallocate() }
        let f = {
            switch pooling {
            case .mean: windowMeanForward(out.p, inp.p, groups: groups, C: C)
            case .max: windowMaxForward(out.p, argmax, inp.p, groups: groups, C: C)
            }
            return project(out.p, r.p, B * C)
        }
        _ = f()
        // The forward written out plainly.
        var start = 0
        for (b, n) in groups.enumerated() {
            for c in 0..<C {
                let xs = (0..<n).map { inp.p[(start + $0) * C + c] }
                let expected = pooling == .mean ? xs.reduce(0, +) / Float(n) : xs.max()!
                #expect(abs(out.p[b * C + c] - expected) < 1e-6)
            }
            start += n
        }
        switch pooling {
        case .mean: windowMeanBackward(dinp.p, r.p, groups: groups, C: C)
        case .max: windowMaxBackward(dinp.p, r.p, argmax, groups: groups, C: C)
        }
        // Every entry: for max, the windows that do not hold a maximum must get exactly zero.
        check("dinp", inp.p, dinp.p, count: W * C, samples: W * C, eps: 1e-3, loss: f)
    }

    /// The whole classifier with examples of several windows, in each training scope and both poolings.
    @Test(arguments: [TrainableScope.headOnly, .lastBlocks(1), .all], WindowPooling.allCases)
    func wholeClassifierWithWindows(scope: TrainableScope, pooling: WindowPooling) throws {
        let model = GPTModel(config: tinyConfig, seed: 13, randomizeAll: true)
        let net = ClassifierNetwork(model: model, scope: scope, seed: 4, windowPooling: pooling)
        // Three examples: 2 windows, 1 window, 3 windows (the last of each shorter, as in a real message).
        let input = ClassifierInput.tokens([[3, 9, 27, 4, 60, 5], [8, 2],
                                            [1, 2, 3],
                                            [1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], [13]])
        let windows = [2, 1, 3], labels = [1, 0, 1], weights: [Float] = [1, 0.5, 2]
        net.zeroGradients()
        _ = try net.forwardBackward(input, labels: labels, weights: weights, windows: windows)
        let grads = Array(net.gradients), headGrads = Array(net.headGradients)
        let f = { Double(try! net.forwardBackward(input, labels: labels, weights: weights, windows: windows).loss) }
        headGrads.withUnsafeBufferPointer { check("head", net.head.baseAddress!, $0.baseAddress!, count: net.head.count, eps: 1e-2, loss: f) }
        if scope == .headOnly { return }
        for (name, shape, offset) in model.layout.tensors where offset >= net.trainableOffset {
            let n = shape.reduce(1, *)
            grads.withUnsafeBufferPointer { g in
                check(name, model.parameters.baseAddress! + offset, g.baseAddress! + (offset - net.trainableOffset), count: n,
                      samples: 6, eps: 1e-2, tolerance: 3e-2, loss: f)
            }
        }
    }

    /// An example of one window is exactly today's single-sequence example, and an example of k copies of a
    /// window scores the same as that window alone (mean and max of equal vectors are the vector).
    @Test(arguments: WindowPooling.allCases)
    func repeatedWindowsScoreAsOne(pooling: WindowPooling) throws {
        let model = GPTModel(config: tinyConfig, seed: 14, randomizeAll: true)
        let net = ClassifierNetwork(model: model, scope: .lastBlocks(1), seed: 5, windowPooling: pooling)
        let a: [Int32] = [3, 9, 27, 4], b: [Int32] = [8, 8, 1]
        let single = try net.probabilities(.tokens([a, b]))
        #expect(try net.probabilities(.tokens([a, b]), windows: [1, 1]) == single)
        let repeated = try net.probabilities(.tokens([a, a, a, b, b]), windows: [3, 2])
        for (x, y) in zip(single.joined(), repeated.joined()) { #expect(abs(x - y) < 1e-6) }
        // Cached frozen features of the windows give the same as their tokens.
        let features = try net.frozenFeatures([a, a, b])
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: features.reduce(0) { $0 + $1.count })
        defer { storage.deallocate() }
        var ptrs: [UnsafePointer<Float>] = [], at = 0
        for f in features { _ = UnsafeMutableBufferPointer(rebasing: storage[at...]).initialize(from: f); ptrs.append(UnsafePointer(storage.baseAddress! + at)); at += f.count }
        let cached = try net.probabilities(.residuals(ptrs, lengths: [4, 4, 3]), windows: [2, 1])
        for (x, y) in zip(single.joined(), cached.joined()) { #expect(abs(x - y) < 1e-5) }
    }
}
