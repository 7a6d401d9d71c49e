import Foundation
import GPT
import MailText
import Testing
import Tokenizer
@testable import Training

func temporaryDirectory(_ name: String = #function) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sg-\(name.filter(\.isLetter))-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func write(_ text: String, _ url: URL) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
}

/// A raw message whose body says what it is.
func message(_ subject: String, _ body: String) -> String {
    "From: someone@example.org\r\nTo: you@example.com\r\nSubject: \(subject)\r\nContent-Type: text/plain\r\n\r\n\(body)\r\n"
}

@Suite struct DataSourceTests {
    @Test func sourcesParseAndBadOnesSayWhy() throws {
        #expect(try DataSource(parsing: "text:/a/b.tsv") == .text(URL(fileURLWithPath: "/a/b.tsv")))
        #expect(try DataSource(parsing: "dirs:/s,/h") == .dirs(spam: URL(fileURLWithPath: "/s"), ham: URL(fileURLWithPath: "/h")))
        #expect(throws: DataError.badSource("csv:/x", "unknown kind \"csv\"; expected text:, list: or dirs:")) { try DataSource(parsing: "csv:/x") }
        #expect(throws: DataError.badSource("dirs:/only", "dirs: takes two paths, spam first: dirs:SPAMPATH,HAMPATH")) { try DataSource(parsing: "dirs:/only") }
    }

    @Test func badLabelsNameTheLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write("ham\thello\nspam\twin money\nmaybe\twho knows\n", dir.appendingPathComponent("t.tsv"))
        let url = dir.appendingPathComponent("t.tsv")
        #expect(throws: DataError.badLine(file: url.path, line: 3, reason: "label \"maybe\" is neither spam nor ham")) {
            try DataSource.text(url).load()
        }
        try write("ham no tab here\n", url)
        #expect(throws: DataError.badLine(file: url.path, line: 1, reason: "expected label<TAB>text")) { try DataSource.text(url).load() }
    }

    @Test func listsResolvePathsAndSkipUnreadableMessages() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(message("hi", "lunch?"), dir.appendingPathComponent("m/1"))
        try write("ham\tm/1\nspam\tm/missing\n", dir.appendingPathComponent("list.tsv"))
        let loaded = try DataSource.list(dir.appendingPathComponent("list.tsv")).load()
        #expect(loaded.examples.count == 1 && loaded.examples[0].label == 0)
        #expect(loaded.skipped.count == 1 && loaded.skipped[0].origin.hasSuffix("m/missing"))
    }

    @Test func directoriesAndMaildirsLoadWithLabels() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(message("cheap pills", "buy now"), dir.appendingPathComponent("spam/cur/1:2,S"))
        try write(message("cheap pills 2", "buy now"), dir.appendingPathComponent("spam/new/2"))
        try write(message("partial", "ignored"), dir.appendingPathComponent("spam/tmp/3"))
        try write("From a@b Mon Jan  1 00:00:00 2024\n" + message("one", "a") + "\nFrom c@d Mon Jan  1 00:00:00 2024\n" + message("two", "b"),
                  dir.appendingPathComponent("ham.mbox"))
        let loaded = try DataSource.dirs(spam: dir.appendingPathComponent("spam"), ham: dir.appendingPathComponent("ham.mbox")).load()
        #expect(loaded.spamCount == 2)
        #expect(loaded.hamCount == 2)
    }
}

@Suite struct BundleTests {
    /// Trains a tiny classifier on generated mail through the public pieces `spamguardctl train` uses.
    func trainTiny(base: URL, out: URL, bag: TokenBag? = nil) throws -> (ClassifierManifest, [Float], [[Int32]]) {
        let tokenizer = try GPT2Tokenizer.load(directory: base)
        let model = try GPTModel.load(directory: base)
        var examples = LoadedExamples()
        for i in 0..<40 {
            let spam = i % 2 == 0
            let raw = message(spam ? "WIN $$$ now \(i)" : "meeting notes \(i)", spam ? "claim your prize!!! click" : "see you at ten")
            examples.examples.append(Example(label: spam ? 1 : 0, origin: "gen/\(i)", content: .message(Array(raw.utf8))))
        }
        let set = examples.tokenized(tokenizer, options: .default, maxTokens: max(48, bag?.tokens ?? 0))
        var settings = TrainingSettings()
        settings.bag = bag
        settings.epochs = 2
        settings.optimizer.learningRate = 1e-3
        settings.maxTokens = 48
        let hash = try sha256(file: base.appendingPathComponent("model.safetensors"))
        let trainer = Trainer(model: model, settings: settings, baseHash: hash, padToken: tokenizer.endOfText)
        let outcome = try trainer.train(set, validation: set)
        let manifest = ClassifierManifest(
            version: "", created: Date(), base: .init(path: base.path, sha256: hash, config: model.config),
            trainable: settings.scope, pooling: settings.pooling, maxTokens: outcome.maxTokens, padToken: tokenizer.endOfText,
            extraction: .default, metrics: ["validation": outcome.validation],
            training: .init(settings: settings, sources: ["train": "generated"], summary: [:], seconds: outcome.seconds, steps: outcome.steps, parentVersion: nil))
        let written = try ClassifierBundle.write(trainer.network, manifest: manifest, to: out)
        let sequences = Array(set.sequences.prefix(6))
        let windows = sequences.map { Array($0.prefix(outcome.maxTokens)) }
        let probabilities = try trainer.network.probabilities(.tokens(windows), bags: bag.map { b in sequences.map { b.features($0) } }).map { $0[1] }
        return (written, probabilities, sequences)
    }

    @Test func bundleRoundTripsAndScoresTheSame() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = dir.appendingPathComponent("base"), out = dir.appendingPathComponent("clf")
        try TinyModel.write(to: base)
        let (written, expected, sequences) = try trainTiny(base: base, out: out)
        #expect(written.version.count > 16)
        let classifier = try SpamClassifier.load(bundle: out)
        #expect(classifier.version == written.version)
        #expect(classifier.manifest.training.settings == written.training.settings)
        let got = try classifier.spamProbabilities(sequences)
        for (a, b) in zip(got, expected) { #expect(abs(a - b) < 1e-5) }
        // Only the trained tensors are stored: the last 2 blocks, ln_f and the head — not the embeddings.
        let names = Set(try SafeTensorsFile(url: out.appendingPathComponent("classifier.safetensors")).tensors.keys)
        #expect(names.contains("out_head.weight") && names.contains("ln_f.bias") && names.contains("h.1.mlp.c_fc.weight"))
        #expect(!names.contains("wte.weight"))
    }

    @Test func aBundleWithABagHeadRoundTripsAndScoresTheSame() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = dir.appendingPathComponent("base"), out = dir.appendingPathComponent("clf")
        try TinyModel.write(to: base)
        let bag = TokenBag(buckets: 4096, tokens: 96)
        let (written, expected, sequences) = try trainTiny(base: base, out: out, bag: bag)
        #expect(written.bag == bag)
        let classifier = try SpamClassifier.load(bundle: out)
        #expect(classifier.tokenLimit == 96, "the bag reads further than the 48-token window")
        #expect(classifier.tokens(forTokens: [Int32](repeating: 5, count: 200)).count == 96)
        let got = try classifier.spamProbabilities(sequences.map { classifier.tokens(forTokens: $0) })
        for (a, b) in zip(got, expected) { #expect(abs(a - b) < 1e-5) }
        let file = try SafeTensorsFile(url: out.appendingPathComponent("classifier.safetensors"))
        #expect(try file.floats("out_head.bag", shape: [2, 4096]).contains { $0 != 0 }, "the bag head trained")
    }

    @Test func theBagWeightDecayIsKeptAndOlderManifestsMeanTheOptimizers() throws {
        #expect(TrainingSettings().bagWeightDecay == 0, "new classifiers train the bag head without decay")
        var settings = TrainingSettings()
        settings.bagWeightDecay = 0.05
        let decoded = try JSONDecoder().decode(TrainingSettings.self, from: JSONEncoder().encode(settings))
        #expect(decoded.bagWeightDecay == 0.05)
        let older = try JSONDecoder().decode(TrainingSettings.self, from: Data(#"{"epochs": 2}"#.utf8))
        #expect(older.bagWeightDecay == nil && older.epochs == 2, "a manifest from before the setting trains as it was trained")
    }

    @Test func aDifferentBaseModelIsRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = dir.appendingPathComponent("base"), other = dir.appendingPathComponent("other"), out = dir.appendingPathComponent("clf")
        try TinyModel.write(to: base)
        try TinyModel.write(to: other, seed: 99)
        _ = try trainTiny(base: base, out: out)
        do {
            _ = try SpamClassifier.load(base: other, bundle: out)
            Issue.record("a bundle loaded on the wrong base model")
        } catch let e as BundleError {
            #expect("\(e)".contains("was trained on a base model with sha256"))
        }
    }

    @Test func aCorruptBundleIsAClearError() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = dir.appendingPathComponent("base"), out = dir.appendingPathComponent("clf")
        try TinyModel.write(to: base)
        _ = try trainTiny(base: base, out: out)
        let tensors = out.appendingPathComponent("classifier.safetensors")
        let data = try Data(contentsOf: tensors)
        try data.prefix(data.count / 2).write(to: tensors)
        #expect(throws: ModelError.self) { _ = try SpamClassifier.load(bundle: out) }
        try Data("{\"format\": 1}".utf8).write(to: out.appendingPathComponent("manifest.json"))
        #expect(throws: BundleError.self) { _ = try SpamClassifier.load(bundle: out) }
    }
}

extension BundleTests {
    /// A damaged bag description is refused when the bundle loads, not met as a division by zero at the first message.
    @Test func aDamagedBagHeadIsAClearError() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = dir.appendingPathComponent("base"), out = dir.appendingPathComponent("clf")
        try TinyModel.write(to: base)
        _ = try trainTiny(base: base, out: out, bag: TokenBag(buckets: 1024, tokens: 64))
        let manifest = out.appendingPathComponent("manifest.json")
        let good = try String(contentsOf: manifest, encoding: .utf8)
        #expect(good.contains("\"buckets\" : 1024") && good.contains("\"hash\" : \"fmix64-v1\""))
        for damaged in [good.replacingOccurrences(of: "\"buckets\" : 1024", with: "\"buckets\" : 0"),
                        good.replacingOccurrences(of: "\"hash\" : \"fmix64-v1\"", with: "\"hash\" : \"fmix64-v9\"")] {
            try damaged.write(to: manifest, atomically: true, encoding: .utf8)
            #expect(throws: BundleError.self) { _ = try SpamClassifier.load(bundle: out) }
        }
    }
}

@Suite struct TrainingDataTests {
    @Test func replayingAManifestRebuildsTheSameSplits() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lines = (0..<60).map { i in i % 3 == 0 ? "spam\twin a prize \(i)" : "ham\tlunch at \(i)" }
        try write(lines.joined(separator: "\n"), dir.appendingPathComponent("t.tsv"))
        var settings = TrainingSettings()
        settings.seed = 7
        var reported: [String] = []
        let data = try TrainingData.load(train: "text:\(dir.path)/t.tsv", validation: nil, test: nil, seed: 7) { split, source, _ in
            reported.append("\(split):\(source ?? "held out")")
        }
        #expect(reported == ["train:text:\(dir.path)/t.tsv", "validation:held out"])
        #expect(data.validation.examples.count == 6 && data.train.examples.count == 54)
        #expect(data.sources == ["train": "text:\(dir.path)/t.tsv"])

        let training = ClassifierManifest.Training(settings: settings, sources: data.sources, summary: data.summary,
                                                   seconds: 0, steps: 0, parentVersion: nil)
        let replayed = try TrainingData.replaying(training)
        #expect(replayed.validation.examples.map(\.origin) == data.validation.examples.map(\.origin))
        #expect(replayed.train.examples.map(\.origin) == data.train.examples.map(\.origin))
        #expect(data.summary["validation"] == .init(spam: 2, ham: 4, skipped: 0))
    }

    @Test func aSourceWithoutExamplesIsAnError() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write("\n", dir.appendingPathComponent("empty.tsv"))
        #expect(throws: DataError.empty("text:\(dir.path)/empty.tsv")) {
            try TrainingData.load(train: "text:\(dir.path)/empty.tsv", validation: nil, test: nil, seed: 1)
        }
    }
}
