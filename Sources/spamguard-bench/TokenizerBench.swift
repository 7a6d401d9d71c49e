import ArgumentParser
import Foundation
import Tokenizer

struct TokenizerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "GPT-2 tokenizer throughput on mail, on one thread, with a cold and a warm cache.",
        discussion: """
            Reference: decoding the same bytes into a String and walking its Unicode scalars — the least \
            any tokenizer that looks at every scalar must do. A ratio of 0.5 means half that speed.

            Corpus: a .tsv file is one document per line, the text after the first tab (label<TAB>text); \
            any other file is one document, its raw bytes (a whole message); a directory is all of its \
            files but .tsv ones, recursively. Default: ../shared/corpora/sms/*.tsv and the messages \
            under ../shared/corpora/spamassassin.
            """
    )

    @Option(help: ArgumentHelp("A corpus file or directory (repeatable).", valueName: "path"))
    var corpus: [String] = []

    @Option(help: ArgumentHelp("Tokenizer directory (default: $SPAMGUARD_GPT2_TOKENIZER, else ../shared/tokenizer).", valueName: "dir"))
    var model: String?

    @Option(help: "Timed passes of each measurement; the fastest counts.")
    var repeats = 3

    @Option(help: "Tokens the daemon case keeps of each document.")
    var maxTokens = 1024

    func validate() throws {
        guard repeats >= 1, maxTokens >= 1 else { throw ValidationError("--repeats and --max-tokens must be at least 1") }
    }

    func run() throws {
        let modelDirectory = model ?? ProcessInfo.processInfo.environment["SPAMGUARD_GPT2_TOKENIZER"] ?? "../shared/tokenizer"
        let documents = try loadCorpus(corpus.isEmpty ? defaultCorpus() : corpus)
        let bytes = documents.reduce(0) { $0 + $1.count }
        guard bytes > 0 else { throw ValidationError("the corpus is empty") }
        print("corpus: \(documents.count) documents, \(megabytes(bytes)) MB")

        let loadStart = ContinuousClock.now
        _ = try GPT2Tokenizer.load(directory: URL(fileURLWithPath: modelDirectory))
        print("load \(modelDirectory): \(milliseconds(ContinuousClock.now - loadStart)) ms")

        var scalars = (all: 0, nonASCII: 0)
        let reference = fastest(repeats) { _ in scalars = scalarWalk(documents) }
        print("reference, String(decoding:) + scalar walk: \(rate(bytes, reference)) MB/s",
              "(\(scalars.all) scalars, \(scalars.nonASCII) not ASCII)")

        var tokens = 0
        let tokenizers = try (0..<repeats).map { _ in try GPT2Tokenizer.load(directory: URL(fileURLWithPath: modelDirectory)) }
        let cold = fastest(repeats) { pass in tokens = encodeAll(documents, with: tokenizers[pass]) }
        let warm = fastest(repeats) { _ in tokens = encodeAll(documents, with: tokenizers[0]) }
        for (name, time) in [("cold cache", cold), ("warm cache", warm)] {
            print("\(name): \(rate(bytes, time)) MB/s, \(rate(tokens, time)) M tokens/s, \(ratio(reference, time))× the reference")
        }
        print("tokens: \(tokens) (\(String(format: "%.2f", Double(bytes) / Double(tokens))) bytes a token)")

        let firstTokens = fastest(repeats) { _ in
            for document in documents { _ = tokenizers[0].encode(String(decoding: document, as: UTF8.self), maxTokens: maxTokens) }
        }
        let perDocument = firstTokens / documents.count
        print("daemon case, first \(maxTokens) tokens of each document (warm): \(microseconds(perDocument)) µs a document")
    }

    private func defaultCorpus() throws -> [String] {
        let sms = "../shared/corpora/sms"
        let tsvFiles = try FileManager.default.contentsOfDirectory(atPath: sms).filter { $0.hasSuffix(".tsv") }.sorted()
        return tsvFiles.map { "\(sms)/\($0)" } + ["../shared/corpora/spamassassin"]
    }

    private func loadCorpus(_ paths: [String]) throws -> [[UInt8]] {
        var documents: [[UInt8]] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("no corpus at \(path)")
            }
            if isDirectory.boolValue {
                let files = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
                for file in files.sorted() where !file.hasSuffix(".tsv") {
                    let url = URL(fileURLWithPath: path).appendingPathComponent(file)
                    if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                        documents.append(Array(try Data(contentsOf: url)))
                    }
                }
            } else if path.hasSuffix(".tsv") {
                for line in try Data(contentsOf: URL(fileURLWithPath: path)).split(separator: UInt8(ascii: "\n")) {
                    if let tab = line.firstIndex(of: UInt8(ascii: "\t")) { documents.append(Array(line[(tab + 1)...])) }
                }
            } else {
                documents.append(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            }
        }
        return documents
    }
}

private func encodeAll(_ documents: [[UInt8]], with tokenizer: GPT2Tokenizer) -> Int {
    documents.reduce(0) { $0 + tokenizer.encode(bytes: $1).count }
}

private func scalarWalk(_ documents: [[UInt8]]) -> (all: Int, nonASCII: Int) {
    var counts = (all: 0, nonASCII: 0)
    for document in documents {
        for scalar in String(decoding: document, as: UTF8.self).unicodeScalars {
            counts.all += 1
            if !scalar.isASCII { counts.nonASCII += 1 }
        }
    }
    return counts
}

/// The fastest of `repeats` timed runs of `body`, which is told the index of its run.
private func fastest(_ repeats: Int, _ body: (Int) -> Void) -> Duration {
    (0..<repeats).map { pass in ContinuousClock().measure { body(pass) } }.min()!
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

private func rate(_ count: Int, _ duration: Duration) -> String { String(format: "%.1f", Double(count) / 1e6 / seconds(duration)) }
private func ratio(_ reference: Duration, _ duration: Duration) -> String { String(format: "%.2f", seconds(reference) / seconds(duration)) }
private func megabytes(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1e6) }
private func milliseconds(_ duration: Duration) -> String { String(format: "%.0f", seconds(duration) * 1e3) }
private func microseconds(_ duration: Duration) -> String { String(format: "%.1f", seconds(duration) * 1e6) }
