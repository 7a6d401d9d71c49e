import Foundation
import GPT
import Testing
@testable import Training

/// A corpus a tiny model can learn: random tokens, with a marker token sprinkled into spam (7) or ham (8).
func markerCorpus(count: Int, seed: UInt64, markers: Int = 2) -> LabeledSequences {
    var rng = SeededRandom(seed: seed)
    var seqs: [[Int32]] = [], labels: [Int] = []
    for i in 0..<count {
        let spam = i % 3 == 0   // imbalanced, like mail
        let length = 4 + Int(rng.next() % 10)
        var s = (0..<length).map { _ in Int32(10 + rng.next() % 50) }
        for _ in 0..<markers { s[Int(rng.next() % UInt64(length))] = spam ? 7 : 8 }
        seqs.append(s); labels.append(spam ? 1 : 0)
    }
    return LabeledSequences(sequences: seqs, labels: labels)
}

let tiny = GPTConfig(vocabSize: 64, maxPositions: 16, channels: 32, layers: 2, heads: 2)

@Suite struct TrainerTests {
    func settings(_ scope: TrainableScope) -> TrainingSettings {
        var s = TrainingSettings()
        s.scope = scope
        s.epochs = 15
        s.batchSize = 8
        s.optimizer.learningRate = 3e-3
        s.optimizer.weightDecay = 0.01
        s.maxTokens = nil
        s.evalEvery = 10
        s.bag = nil   // these test the body's training; the bag head has tests of its own
        return s
    }

    @Test(arguments: [TrainableScope.lastBlocks(1), .all])
    func tinyModelLearnsTinyCorpus(scope: TrainableScope) throws {
        var s = settings(scope)
        s.keepBest = false
        var trainLosses: [Double] = []
        let trainer = Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "test", padToken: 63) { event in
            if case .evaluation(_, _, let trainLoss, _, _, _, _) = event { trainLosses.append(trainLoss) }
        }
        let outcome = try trainer.train(markerCorpus(count: 120, seed: 1), validation: markerCorpus(count: 30, seed: 2),
                                        test: markerCorpus(count: 60, seed: 3))
        #expect(trainLosses.count >= 15, "at least one evaluation per epoch")
        #expect(trainLosses.last! < trainLosses.first! / 10, "train loss must fall: \(trainLosses)")
        #expect(outcome.train.accuracy == 1)
        #expect(outcome.test!.accuracy >= 0.9, "\(outcome.test!.summary)")
    }

    /// The bag head reads past the body's window: a marker that only appears after the first `maxTokens` tokens
    /// is learned with a bag head, and cannot be without one.
    @Test func aBagHeadLearnsWhatLiesBeyondTheWindow() throws {
        func corpus(_ count: Int, seed: UInt64) -> LabeledSequences {
            var rng = SeededRandom(seed: seed)
            var sequences: [[Int32]] = [], labels: [Int] = []
            for i in 0..<count {
                let spam = i % 3 == 0
                var s = (0..<24).map { _ in Int32(10 + rng.next() % 50) }
                s[12 + Int(rng.next() % 12)] = spam ? 7 : 8
                sequences.append(s); labels.append(spam ? 1 : 0)
            }
            return LabeledSequences(sequences: sequences, labels: labels)
        }
        func testAccuracy(bag: TokenBag?) throws -> Double {
            var s = settings(.lastBlocks(1))
            s.maxTokens = 8
            s.epochs = 6
            s.bag = bag
            s.bagLearningRate = 0.1
            s.bagObjective = .joint
            let trainer = Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "test", padToken: 63)
            return try trainer.train(corpus(150, seed: 1), validation: corpus(30, seed: 2), test: corpus(60, seed: 3)).test!.accuracy
        }
        // Unigrams only: the 50 noise tokens are shared by every message, so only the marker tells them apart.
        // The joint objective: with `.separate` the body's head, which sees no signal, memorises the training
        // set on its own loss and outvotes the bag on new messages (0.8 here).
        let withBag = try testAccuracy(bag: TokenBag(buckets: 512, tokens: 64, bigrams: false))
        #expect(withBag == 1, "\(withBag)")
        #expect(try testAccuracy(bag: nil) < 0.8, "the marker is outside the window: no better than guessing")
    }

    @Test func bestCheckpointIsTheOneRestored() throws {
        var bestLoss = Double.infinity
        let trainer = Trainer(model: GPTModel(config: tiny, seed: 5), settings: settings(.lastBlocks(1)), baseHash: "test", padToken: 63) { _ in }
        let outcome = try trainer.train(markerCorpus(count: 120, seed: 1), validation: markerCorpus(count: 30, seed: 2))
        bestLoss = outcome.bestValidationLoss!
        // The restored parameters reproduce the best full-validation loss seen during training.
        #expect(abs(outcome.validation.loss! - bestLoss) < 1e-6)
    }

    @Test func headOnlyAndBookPoolingTrainToo() throws {
        var s = settings(.headOnly)
        s.pooling = .last
        s.balance = .downsample
        s.epochs = 30
        s.optimizer.learningRate = 3e-2
        let trainer = Trainer(model: GPTModel(config: tiny, seed: 6), settings: s, baseHash: "test", padToken: 63)
        let outcome = try trainer.train(markerCorpus(count: 150, seed: 4, markers: 6), validation: markerCorpus(count: 30, seed: 5, markers: 6))
        #expect(outcome.validation.accuracy >= 0.9, "\(outcome.validation.summary)")
        // Downsampling: as many ham as spam in what was trained on (50 spam of 150).
        #expect(outcome.train.count == 100)
    }

    @Test func featureCacheIsReusedAcrossRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sg-cache-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        var s = settings(.lastBlocks(1))
        s.epochs = 1
        let data = markerCorpus(count: 40, seed: 7), val = markerCorpus(count: 10, seed: 8)
        let first = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "h1", padToken: 63, cacheDirectory: dir).train(data, validation: val)
        #expect(first.featureCacheHits == 0 && first.featuresComputed == 50)
        let second = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "h1", padToken: 63, cacheDirectory: dir).train(data, validation: val)
        #expect(second.featureCacheHits == 50 && second.featuresComputed == 0)
        #expect(second.validation == first.validation, "same seed, same cached features: same result")
        // Another base model must not reuse them.
        let other = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "h2", padToken: 63, cacheDirectory: dir).train(data, validation: val)
        #expect(other.featureCacheHits == 0)
    }

    @Test func recomputingTheFrozenBlocksTrainsTheSameAsCachingThem() throws {
        var s = settings(.lastBlocks(1))
        s.epochs = 2
        let data = markerCorpus(count: 40, seed: 11), val = markerCorpus(count: 10, seed: 12)
        let cached = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "h", padToken: 63).train(data, validation: val)
        let recomputed = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "h", padToken: 63,
                                     cacheFrozenPrefix: false).train(data, validation: val)
        #expect(recomputed.featuresComputed == 0)
        #expect(abs(recomputed.validation.loss! - cached.validation.loss!) < 1e-4)
        #expect(recomputed.train.accuracy == cached.train.accuracy)
    }

    @Test func spilledFeaturesGiveTheSameTraining() throws {
        var s = settings(.lastBlocks(1))
        s.epochs = 2
        let data = markerCorpus(count: 40, seed: 9), val = markerCorpus(count: 10, seed: 10)
        let inMemory = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "h", padToken: 63).train(data, validation: val)
        let spilled = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "h", padToken: 63, memoryBudget: 4096).train(data, validation: val)
        #expect(spilled.validation == inMemory.validation)
        #expect(spilled.train == inMemory.train)
    }
}

@Suite struct MetricsTests {
    @Test func confusionRatesAndAUC() {
        let m = Metrics(probabilities: [0.9, 0.8, 0.3, 0.6, 0.1, 0.2], labels: [1, 1, 1, 0, 0, 0])
        #expect((m.tp, m.fp, m.tn, m.fn) == (2, 1, 2, 1))
        #expect(abs(m.accuracy - 4.0 / 6) < 1e-12)
        #expect(abs(m.precision - 2.0 / 3) < 1e-12 && abs(m.recall - 2.0 / 3) < 1e-12)
        #expect(abs(m.fpr - 1.0 / 3) < 1e-12)
        // Pairs (spam, ham) ranked right: 0.9 beats all 3; 0.8 beats all 3; 0.3 beats 0.1 and 0.2 → 8 of 9.
        #expect(abs(m.auc - 8.0 / 9) < 1e-12)
        #expect(Metrics(probabilities: [0.5, 0.5], labels: [1, 0]).auc == 0.5)
        let json = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(m)) as! [String: Any]
        #expect(Set(json.keys).isSuperset(of: ["accuracy", "precision", "recall", "f1", "fpr", "auc", "tp", "fp", "tn", "fn"]))
    }
}

@Suite struct AdamWTests {
    /// Against the textbook formula, in Double, for a few steps on a vector longer than one SIMD chunk and not a multiple of 16,
    /// with gradients from 1e-6 to 1e2 (the square root of the second moment is computed by Newton steps).
    @Test func matchesTheTextbookUpdate() {
        let n = 37
        var hyper = AdamW.Hyperparameters()
        hyper.learningRate = 1e-2
        let values = UnsafeMutableBufferPointer<Float>.allocate(capacity: n), grads = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { values.deallocate(); grads.deallocate() }
        var p = (0..<n).map { Double($0) / 10 - 1 }, m = [Double](repeating: 0, count: n), v = m
        for i in 0..<n { values[i] = Float(p[i]) }
        let adam = AdamW(hyper)
        adam.addGroup(values: values, gradients: grads)
        for step in 1...3 {
            for i in 0..<n { grads[i] = Float(sin(Double(i * step)) * pow(10, Double(i % 9) - 6)) }  // 1e-6 … 1e2
            adam.update(learningRate: hyper.learningRate)
            for i in 0..<n {
                let g = Double(grads[i])
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                let mhat = m[i] / (1 - pow(0.9, Double(step))), vhat = v[i] / (1 - pow(0.999, Double(step)))
                p[i] -= 1e-2 * (mhat / (vhat.squareRoot() + 1e-8) + 0.1 * p[i])
            }
        }
        for i in 0..<n { #expect(abs(Double(values[i]) - p[i]) < 1e-5, "parameter \(i)") }
    }

    /// With no gradient, a step only decays: by lr × weight decay, the group's own when it has one, at its own rate.
    @Test func eachGroupDecaysAtItsOwnRate() {
        var hyper = AdamW.Hyperparameters()
        hyper.learningRate = 1e-3
        let buffers = (0..<3).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: 16) }
        let zero = UnsafeMutableBufferPointer<Float>.allocate(capacity: 16)
        defer { for b in buffers + [zero] { b.deallocate() } }
        for b in buffers { b.initialize(repeating: 1) }
        zero.initialize(repeating: 0)
        let adam = AdamW(hyper)
        adam.addGroup(values: buffers[0], gradients: zero)
        adam.addGroup(values: buffers[1], gradients: zero, learningRateScale: 10)
        adam.addGroup(values: buffers[2], gradients: zero, learningRateScale: 10, weightDecay: 0)
        adam.update(learningRate: hyper.learningRate)
        #expect(abs(buffers[0][5] - (1 - 1e-3 * 0.1)) < 1e-7)
        #expect(abs(buffers[1][5] - (1 - 1e-2 * 0.1)) < 1e-7)
        #expect(buffers[2][5] == 1)
    }
}

@Suite struct FinetuningFromAClassifierTests {
    func settings() -> TrainingSettings {
        var s = TrainingSettings()
        s.scope = .lastBlocks(1)
        s.epochs = 3
        s.optimizer.learningRate = 3e-3
        s.maxTokens = nil
        return s
    }

    @Test func theStartingClassifierIsMeasuredBeforeTheFirstStep() throws {
        let validation = markerCorpus(count: 30, seed: 2), test = markerCorpus(count: 20, seed: 3)
        let first = Trainer(model: GPTModel(config: tiny, seed: 5), settings: settings(), baseHash: "t", padToken: 63)
        let trained = try first.train(markerCorpus(count: 90, seed: 1), validation: validation, test: test)
        #expect(trained.initialValidation == nil, "a fresh head has no starting point worth measuring")
        #expect(trained.initialValidationProbabilities == nil)
        #expect(trained.validationProbabilities.count == validation.count)

        // Continue from the trained classifier: its starting metrics are the first run's final ones.
        let second = Trainer(model: first.network.model, settings: settings(), baseHash: "t", padToken: 63, head: first.network.headValues,
                             bag: Array(first.network.bagWeights))
        #expect(settings().bag != nil, "the default classifier has a bag head, and a finetune continues from it too")
        let continued = try second.train(markerCorpus(count: 30, seed: 4), validation: validation, test: test)
        let start = try #require(continued.initialValidation)
        #expect((start.tp, start.fp, start.tn, start.fn) == (trained.validation.tp, trained.validation.fp, trained.validation.tn, trained.validation.fn))
        #expect(abs(start.loss! - trained.validation.loss!) < 1e-6, "the same classifier on the same data, up to rounding")
        #expect(continued.initialTest?.count == test.count)
        // Message by message too: the starting probabilities are the first run's final ones, in validation order.
        let startProbabilities = try #require(continued.initialValidationProbabilities)
        #expect(startProbabilities.count == validation.count)
        #expect(zip(startProbabilities, trained.validationProbabilities).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(Metrics(probabilities: continued.validationProbabilities, labels: validation.labels).tp == continued.validation.tp)
    }

    @Test func aThrowingCheckpointStopsTraining() throws {
        struct Stop: Error {}
        let trainer = Trainer(model: GPTModel(config: tiny, seed: 5), settings: settings(), baseHash: "t", padToken: 63)
        var calls = 0
        trainer.checkpoint = {
            calls += 1
            if calls == 5 { throw Stop() }
        }
        #expect(throws: Stop.self) { try trainer.train(markerCorpus(count: 90, seed: 1), validation: markerCorpus(count: 10, seed: 2)) }
        #expect(calls == 5)
    }
}
