import Foundation
import GPT
import Testing
import Tokenizer
@testable import Training

/// Spam and ham that differ only after the first `hidden` tokens: random tokens, with a marker token (7 spam,
/// 8 ham) at two places past them.
func lateMarkerCorpus(count: Int, seed: UInt64, hidden: Int, length: Int) -> LabeledSequences {
    var rng = SeededRandom(seed: seed)
    var seqs: [[Int32]] = [], labels: [Int] = []
    for i in 0..<count {
        let spam = i % 3 == 0
        var s = (0..<length).map { _ in Int32(10 + rng.next() % 50) }
        for _ in 0..<2 { s[hidden + Int(rng.next() % UInt64(length - hidden))] = spam ? 7 : 8 }
        seqs.append(s); labels.append(spam ? 1 : 0)
    }
    return LabeledSequences(sequences: seqs, labels: labels)
}

@Suite struct WindowTests {
    @Test func trainingReadsAsFarAsTheWindowsOrTheBagReach() {
        var s = TrainingSettings()
        s.bag = nil
        #expect(s.tokenLimit(maxPositions: 1024) == 256)
        #expect(s.tokenLimit(maxPositions: 128) == 128, "a window is no longer than the model's positions")
        s.windows = 3
        #expect(s.tokenLimit(maxPositions: 1024) == 768)
        s.maxTokens = nil
        #expect(s.tokenLimit(maxPositions: 128) == 384, "the longest example is not known yet: the model's positions")
        s.bag = TokenBag(tokens: 4096)
        #expect(s.tokenLimit(maxPositions: 128) == 4096)
    }

    @Test func windowsCutAndPadMessages() {
        let w = TokenWindows(length: 4, count: 3, padToken: 0, pooling: .lastReal)
        #expect(w.tokenLimit == 12)
        #expect(w.split(w.prepare([1, 2, 3])) == [[1, 2, 3]])
        #expect(w.split(w.prepare(Array(1...10))) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]])
        #expect(w.split(w.prepare(Array(1...20))) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
        #expect(w.split(w.prepare([])) == [[0]])
        // The book's padding: the last window padded to the window length, never a window of padding only.
        let padded = TokenWindows(length: 4, count: 3, padToken: 0, pooling: .last)
        #expect(padded.split(padded.prepare([1, 2])) == [[1, 2, 0, 0]])
        #expect(padded.split(padded.prepare(Array(1...5))) == [[1, 2, 3, 4], [5, 0, 0, 0]])
        #expect(padded.split(padded.prepare(Array(1...8))) == [[1, 2, 3, 4], [5, 6, 7, 8]])
        // One window is the single-sequence input as it was.
        let one = TokenWindows(length: 4, count: 1, padToken: 0, pooling: .last)
        #expect(one.split(one.prepare(Array(1...9))) == [[1, 2, 3, 4]])
    }

    func settings(_ scope: TrainableScope, windows: Int, pooling: WindowPooling) -> TrainingSettings {
        var s = TrainingSettings()
        s.scope = scope
        s.epochs = 15
        s.optimizer.learningRate = 3e-3
        s.optimizer.weightDecay = 0.01
        s.maxTokens = 8
        s.windows = windows
        s.windowPooling = pooling
        s.evalEvery = 10
        s.bag = nil   // what windows see, and nothing else
        s.keepBest = false
        return s
    }

    /// What decides the label lies past the first window: one window cannot learn it, three windows do.
    @Test(arguments: [(TrainableScope.lastBlocks(1), WindowPooling.mean), (.lastBlocks(1), .max), (.all, .max)])
    func severalWindowsLearnWhatTheFirstCannotSee(scope: TrainableScope, pooling: WindowPooling) throws {
        let train = lateMarkerCorpus(count: 120, seed: 1, hidden: 8, length: 22)
        let val = lateMarkerCorpus(count: 30, seed: 2, hidden: 8, length: 22), test = lateMarkerCorpus(count: 60, seed: 3, hidden: 8, length: 22)
        let three = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: settings(scope, windows: 3, pooling: pooling),
                                baseHash: "test", padToken: 63).train(train, validation: val, test: test)
        #expect(three.train.accuracy == 1, "\(three.train.summary)")
        #expect(three.test!.auc >= 0.95, "\(three.test!.summary)")
        let one = try Trainer(model: GPTModel(config: tiny, seed: 5), settings: settings(scope, windows: 1, pooling: pooling),
                              baseHash: "test", padToken: 63).train(train, validation: val, test: test)
        #expect(one.test!.auc < 0.7, "one window sees only random tokens: \(one.test!.summary)")
    }

    @Test func theFeatureCacheKeepsOneEntryPerWindow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sg-windows-cache-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        var s = settings(.lastBlocks(1), windows: 2, pooling: .mean)
        s.epochs = 1
        // 22 tokens in windows of 8: two windows each when at most two are read.
        let data = lateMarkerCorpus(count: 20, seed: 7, hidden: 8, length: 22), val = lateMarkerCorpus(count: 5, seed: 8, hidden: 8, length: 22)
        func run(_ s: TrainingSettings) throws -> TrainingOutcome {
            try Trainer(model: GPTModel(config: tiny, seed: 5), settings: s, baseHash: "h", padToken: 63, cacheDirectory: dir).train(data, validation: val)
        }
        let two = try run(s)
        #expect(two.featureCacheHits == 0 && two.featuresComputed == 50)
        let again = try run(s)
        #expect(again.featureCacheHits == 50 && again.featuresComputed == 0)
        #expect(again.validation == two.validation)
        // A message's first window is what a one-window run reads: its entry is shared.
        s.windows = 1
        let one = try run(s)
        #expect(one.featureCacheHits == 25 && one.featuresComputed == 0)
        // A third window is new.
        s.windows = 3
        let three = try run(s)
        #expect(three.featureCacheHits == 50 && three.featuresComputed == 25)
    }

    @Test func aBundleReadsItsWindowsWhereverItIsLoaded() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = dir.appendingPathComponent("base"), out = dir.appendingPathComponent("clf")
        try TinyModel.write(to: base)
        let tokenizer = try GPT2Tokenizer.load(directory: base)
        let model = try GPTModel.load(directory: base)
        var examples = LoadedExamples()
        for i in 0..<30 {
            let spam = i % 2 == 0
            let raw = message("note \(i)", "a long preamble that fills the first window and more, " + (spam ? "claim your prize!!!" : "see you at ten"))
            examples.examples.append(Example(label: spam ? 1 : 0, origin: "gen/\(i)", content: .message(Array(raw.utf8))))
        }
        var settings = TrainingSettings()
        settings.epochs = 1
        settings.maxTokens = 32
        settings.windows = 4
        settings.windowPooling = .max
        settings.bag = nil
        let set = examples.tokenized(tokenizer, options: .default, maxTokens: 32 * 4)
        #expect(set.sequences.allSatisfy { $0.count > 64 }, "every message spans three windows or more")
        let hash = try sha256(file: base.appendingPathComponent("model.safetensors"))
        let trainer = Trainer(model: model, settings: settings, baseHash: hash, padToken: tokenizer.endOfText)
        let outcome = try trainer.train(set, validation: set)
        let manifest = ClassifierManifest(
            version: "", created: Date(), base: .init(path: base.path, sha256: hash, config: model.config),
            trainable: settings.scope, pooling: settings.pooling, maxTokens: outcome.maxTokens, padToken: tokenizer.endOfText,
            extraction: .default, metrics: ["validation": outcome.validation],
            training: .init(settings: settings, sources: ["train": "generated"], summary: [:], seconds: outcome.seconds, steps: outcome.steps, parentVersion: nil),
            windows: settings.windows, windowPooling: settings.windowPooling)
        _ = try ClassifierBundle.write(trainer.network, manifest: manifest, to: out)

        let classifier = try SpamClassifier.load(bundle: out)
        #expect(classifier.manifest.windows == 4 && classifier.manifest.windowPooling == .max)
        #expect(classifier.manifest.training.settings == settings)
        #expect(classifier.tokenLimit == 128)
        // It scores each message as the trainer did (the validation metrics were computed on these very windows).
        let p = try classifier.spamProbabilities(set.sequences.map { classifier.tokens(forTokens: $0) })
        let loss = zip(p, set.labels).map { -log(Double(max($1 == 1 ? $0 : 1 - $0, 1e-30))) }.reduce(0, +) / Double(p.count)
        #expect(abs(loss - outcome.validation.loss!) < 1e-5)
        // The daemon's path: text → up to 4 windows' tokens → one probability.
        let long = String(repeating: "lorem ipsum ", count: 40)
        #expect(classifier.tokens(for: long).count == 128)
        #expect(try classifier.spamProbabilities([classifier.tokens(for: long), classifier.tokens(for: "hi")]).count == 2)

        // A manifest from before windows existed loads as one window.
        let url = out.appendingPathComponent("manifest.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        json["windows"] = nil
        json["windowPooling"] = nil
        var training = json["training"] as! [String: Any], old = training["settings"] as! [String: Any]
        old["windows"] = nil
        old["windowPooling"] = nil
        training["settings"] = old
        json["training"] = training
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        let before = try SpamClassifier.load(bundle: out)
        #expect(before.manifest.windows == 1 && before.manifest.windowPooling == .mean)
        #expect(before.manifest.training.settings.windows == 1)
        #expect(before.tokenLimit == 32)
    }
}
