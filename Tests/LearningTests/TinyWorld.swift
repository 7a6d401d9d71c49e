import DaemonTestSupport
import Foundation
import GPT
import MailText
import Tokenizer
import Training

/// A world small enough to learn in seconds: a tiny byte-level base model, generated mail (ham about lunch and
/// minutes, spam shouting about prizes), a classifier trained on it the way `spamguardctl train` does, and a
/// spam campaign that reads like ham ("crypto" in an ordinary note) which that classifier gets wrong.
struct TinyWorld {
    let root: String
    var base: String { root + "/base" }
    var corpus: String { root + "/corpus" }
    var classifier: String { root + "/classifier" }

    static let hamSubjects = ["lunch", "minutes", "draft", "photos", "trip", "garden"]
    static let hamWords = ["see", "you", "at", "noon", "the", "lake", "notes", "agenda", "review", "kids", "book", "later"]
    static let spamSubjects = ["WIN CASH!!!", "FREE PILLS!!!", "HOT DEAL $$$", "PRIZE!!!", "CLICK NOW!!!"]
    static let spamWords = ["claim", "prize", "money", "offer", "bonus", "click", "$$$", "winner", "cheap", "FREE"]

    /// Training settings for the starting classifier; the learning loop finetunes with the same.
    static var settings: TrainingSettings {
        var s = TrainingSettings()
        s.epochs = 6
        s.batchSize = 8
        s.optimizer.learningRate = 2e-3
        s.optimizer.weightDecay = 0.01
        s.maxTokens = 64
        s.seed = 7
        // The body's head alone: every message here carries a unique number, which a bag head memorises, so a
        // poisoned batch would be learned message by message without harm the held-out data can show (see
        // `correctionsAreLearnedWithABagHead` for the loop with one).
        s.bag = nil
        return s
    }

    static func words(_ pool: [String], _ count: Int, _ rng: inout SeededRandom) -> String {
        (0..<count).map { _ in pool[Int(rng.next() % UInt64(pool.count))] }.joined(separator: " ")
    }

    static func ham(_ i: Int, seed: UInt64) -> String {
        var rng = SeededRandom(seed: seed &+ UInt64(i) &* 7919)
        return mail("\(hamSubjects[i % hamSubjects.count]) \(i)", words(hamWords, 6, &rng))
    }

    static func spam(_ i: Int, seed: UInt64) -> String {
        var rng = SeededRandom(seed: seed &+ UInt64(i) &* 104_729)
        return mail("\(spamSubjects[i % spamSubjects.count]) \(i)", words(spamWords, 6, &rng))
    }

    /// Spam that looks like ham but for one word.
    static func campaign(_ i: Int) -> String {
        var rng = SeededRandom(seed: 991 &+ UInt64(i) &* 31)
        return mail("\(hamSubjects[i % hamSubjects.count]) \(i + 500)", "crypto crypto crypto " + words(hamWords, 4, &rng))
    }

    /// Writes the base model and the corpus (`corpus/train.tsv`, `corpus/val.tsv`, label<TAB>path).
    static func make(in root: String, train: Int = 120, validation: Int = 40) throws -> TinyWorld {
        let world = TinyWorld(root: root)
        try TinyModels.writeBase(to: world.base)
        for (name, count, seed) in [("train", train, UInt64(1)), ("val", validation, UInt64(2))] {
            try TinyModels.writeList(world.corpus + "/\(name).tsv", (0..<count).map { i in
                let isSpam = i % 3 == 0
                return (path: "\(name)/\(i).eml", spam: isSpam, message: isSpam ? spam(i, seed: seed) : ham(i, seed: seed))
            })
        }
        return world
    }

    /// A world and its starting classifier, made on a thread of their own (seconds of CPU, off the cooperative pool).
    static func trained(in root: String, train: Int = 120, validation: Int = 40) async throws -> (TinyWorld, ClassifierManifest) {
        try await onThread {
            let world = try make(in: root, train: train, validation: validation)
            return (world, try world.trainClassifier())
        }
    }

    /// Trains the starting classifier in process, as `spamguardctl train` would (same data, same manifest), on
    /// the calling thread only: Dispatch's workers are the cooperative pool the other tests run on.
    func trainClassifier(bag: TokenBag? = nil) throws -> ClassifierManifest {
        try BLASSetup.withKernelsOnCallingThread { try train(bag: bag) }
    }

    private func train(bag: TokenBag?) throws -> ClassifierManifest {
        var settings = Self.settings
        settings.bag = bag
        let baseURL = URL(fileURLWithPath: base)
        let model = try GPTModel.load(directory: baseURL)
        let tokenizer = try GPT2Tokenizer.load(directory: baseURL)
        let hash = try sha256(file: baseURL.appendingPathComponent("model.safetensors"))
        let data = try TrainingData.load(train: "list:\(corpus)/train.tsv", validation: "list:\(corpus)/val.tsv", test: nil, seed: settings.seed)
        let trainer = Trainer(model: model, settings: settings, baseHash: hash, padToken: tokenizer.endOfText)
        func tokenized(_ data: LoadedExamples) -> LabeledSequences {
            LabeledSequences(sequences: data.examples.map { tokenizer.encode($0.text(.default), maxTokens: 64) }, labels: data.examples.map(\.label))
        }
        let outcome = try trainer.train(tokenized(data.train), validation: tokenized(data.validation))
        let manifest = ClassifierManifest(
            version: "", created: Date(timeIntervalSinceNow: -3600), base: .init(path: base, sha256: hash, config: model.config),
            trainable: settings.scope, pooling: settings.pooling, maxTokens: outcome.maxTokens, padToken: tokenizer.endOfText,
            extraction: .default, metrics: ["train": outcome.train, "validation": outcome.validation],
            training: .init(settings: settings, sources: data.sources, summary: data.summary, seconds: outcome.seconds,
                            steps: outcome.steps, parentVersion: nil))
        return try ClassifierBundle.write(trainer.network, manifest: manifest, to: URL(fileURLWithPath: classifier))
    }

    /// Spam probabilities of raw messages under the bundle at `bundle`.
    func scores(_ messages: [String], bundle: String) throws -> [Float] {
        try BLASSetup.withKernelsOnCallingThread {
            let classifier = try SpamClassifier.load(base: URL(fileURLWithPath: base), bundle: URL(fileURLWithPath: bundle))
            return try messages.map { try classifier.spamProbability(message: Array($0.utf8)) }
        }
    }
}
