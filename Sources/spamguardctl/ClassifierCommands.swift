import ArgumentParser
import Foundation
import GPT
import MailText
import Tokenizer
import Training

/// Options shared by the commands that load a trained classifier.
struct ClassifierOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Classifier bundle written by `spamguardctl train`.", valueName: "DIR")) var classifier: String
    @Option(help: ArgumentHelp("Base model directory (default: the path recorded in the bundle).", valueName: "DIR")) var base: String?

    func load() throws -> SpamClassifier {
        BLASSetup.selectBestCore()
        BLASSetup.useEngineThreads()
        return try SpamClassifier.load(base: base.map { URL(fileURLWithPath: $0) }, bundle: URL(fileURLWithPath: classifier))
    }
}

/// Spam probabilities for many token sequences, in batches of 16, with a progress bar for long runs.
func score(_ classifier: SpamClassifier, _ sequences: [[Int32]], label: String) throws -> [Float] {
    let bar = sequences.count > 64 ? ProgressBar(label, unit: "msg") : nil
    defer { bar?.finish() }
    var out: [Float] = []
    for start in stride(from: 0, to: sequences.count, by: 16) {
        out += try classifier.spamProbabilities(Array(sequences[start..<min(start + 16, sequences.count)]))
        bar?.update(out.count, sequences.count)
    }
    return out
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Judge a classifier on labeled data: accuracy, precision, recall, F1, false-positive rate, ROC AUC, confusion matrix.",
        discussion: "SOURCE is text:FILE, list:FILE or dirs:SPAMPATH,HAMPATH, as for `train`. Spam is the positive class.")

    @OptionGroup var classifierOptions: ClassifierOptions
    @Option(help: ArgumentHelp("Labeled data.", valueName: "SOURCE")) var data: String
    @Option(help: "Spam probability at or above which a message counts as spam (default: the bundle's).") var threshold: Float?
    @Flag(help: "Print JSON (rates as fractions 0..1).") var json = false

    func run() throws {
        let classifier = try classifierOptions.load()
        let loaded = try DataSource(parsing: data).load()
        for s in loaded.skipped { warn("skipped \(s.origin): \(s.reason)") }
        guard !loaded.examples.isEmpty else { throw DataError.empty(data) }
        let set = loaded.tokenized(classifier.tokenizer, options: classifier.extraction, maxTokens: classifier.tokenLimit)
        let sequences = set.sequences.map { classifier.tokens(forTokens: $0) }
        let p = try score(classifier, sequences, label: "scoring")
        let m = Metrics(probabilities: p, labels: set.labels, threshold: threshold ?? classifier.manifest.threshold)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(m), as: UTF8.self))
            return
        }
        print("classifier \(classifier.version) on \(data): \(m.count) messages (\(m.tp + m.fn) spam, \(m.fp + m.tn) ham)\(loaded.skipped.isEmpty ? "" : ", \(loaded.skipped.count) skipped")")
        for (name, value) in [("accuracy", m.accuracy), ("precision", m.precision), ("recall", m.recall), ("F1", m.f1),
                              ("false-positive rate", m.fpr)] {
            print("  \(name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(percent(value))")
        }
        print("  \("ROC AUC".padding(toLength: 20, withPad: " ", startingAt: 0)) \(m.auc.isNaN ? "n/a" : String(format: "%.4f", m.auc))")
        print("  confusion            predicted spam  predicted ham")
        print(String(format: "    actual spam        %14d  %13d", m.tp, m.fn))
        print(String(format: "    actual ham         %14d  %13d", m.fp, m.tn))
    }
}

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify raw messages (or text with --text): PATH<TAB>spam|ham<TAB>probability per line.")

    @OptionGroup var classifierOptions: ClassifierOptions
    @Flag(help: "Read each file as plain text instead of a raw RFC 5322 message.") var text = false
    @Argument(help: ArgumentHelp("Files to classify; - for standard input.", valueName: "FILE")) var files: [String]

    func run() throws {
        let classifier = try classifierOptions.load()
        var failed = false
        for path in files {
            let bytes: [UInt8]
            do {
                bytes = path == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                warn("\(path): cannot read: \((error as NSError).localizedDescription)")
                failed = true
                continue
            }
            let input = text ? String(decoding: bytes, as: UTF8.self) : MailText.extract(bytes, options: classifier.extraction).classificationText
            let p = try classifier.spamProbabilities([classifier.tokens(for: input)])[0]
            print("\(path)\t\(p >= classifier.manifest.threshold ? "spam" : "ham")\t\(String(format: "%.4f", p))")
        }
        if failed { throw ExitCode(1) }
    }
}

struct LMLossCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm-loss",
        abstract: "Language-model loss of each file: PATH<TAB>mean next-token cross-entropy (nats)<TAB>tokens.",
        discussion: "Each file is read as bytes, tokenized, and its first n_positions tokens are scored by the base model.")

    @Option(help: ArgumentHelp("Model directory (Hugging Face gpt2 layout).", valueName: "DIR")) var model: String
    @Argument(help: ArgumentHelp("Files to score.", valueName: "FILE")) var files: [String]

    func run() throws {
        BLASSetup.selectBestCore()
        BLASSetup.useEngineThreads()
        let dir = URL(fileURLWithPath: model)
        let gpt = try GPTModel.load(directory: dir)
        let tokenizer = try GPT2Tokenizer.load(directory: dir)
        let runner = GPTRunner(model: gpt)
        var failed = false
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else {
                warn("\(path): cannot read")
                failed = true
                continue
            }
            let ids = Array(tokenizer.encode(bytes: data).prefix(gpt.config.maxPositions))
            guard !ids.isEmpty else { print("\(path)\t\(String(format: "%.6f", 0.0))\t0"); continue }
            let loss = try runner.languageModelLoss([ids])[0]
            print("\(path)\t\(String(format: "%.6f", loss.loss))\t\(ids.count)")
        }
        if failed { throw ExitCode(1) }
    }
}
