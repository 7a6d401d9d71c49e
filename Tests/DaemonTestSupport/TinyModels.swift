import Foundation
import Training

/// Real models for the daemon, made in seconds: the tiny random base model (`TinyModel`: GPT-2's layout, a byte
/// vocabulary), generated mail written out as a labelled corpus, and classifiers trained on it with the real
/// `spamguardctl train`.
public enum TinyModels {
    /// Writes the tiny base model to `directory`.
    public static func writeBase(to directory: String) throws {
        try TinyModel.write(to: URL(fileURLWithPath: directory, isDirectory: true))
    }

    /// One message of a labelled corpus: its file (relative to the list that names it), label and text.
    public typealias Example = (path: String, spam: Bool, message: String)

    /// Writes each example's message to its file and the list `list` naming them in order (`label<TAB>path`,
    /// paths relative to the list's directory: the `list:` source of `spamguardctl train`); returns `list`.
    @discardableResult
    public static func writeList(_ list: String, _ examples: [Example]) throws -> String {
        let directory = Scratch(existing: (list as NSString).deletingLastPathComponent)
        for example in examples { try directory.write(example.path, example.message) }
        let lines = examples.map { "\($0.spam ? "spam" : "ham")\t\($0.path)" }
        try directory.write((list as NSString).lastPathComponent, lines.joined(separator: "\n") + "\n")
        return list
    }

    /// Trains a classifier on `base` into `directory` with `spamguardctl train --no-cache` and `options` (data,
    /// epochs, seed, …); returns its version. At `niceness` (the program inherits it), if given.
    @discardableResult
    public static func train(base: String, into directory: String, _ options: [String], niceness: Int32? = nil) async throws -> String {
        let result = try await runProcess(Products.checkedPath("spamguardctl"),
                                          ["train", "--base", base, "--out", directory] + options + ["--no-cache"], niceness: niceness)
        guard result.status == 0 else { throw HarnessError("spamguardctl train exited \(result.status):\n\(result.output)\n\(result.errors)") }
        guard let line = result.output.split(separator: "\n").first(where: { $0.hasPrefix("wrote classifier ") }),
              let version = line.split(separator: " ").dropFirst(2).first
        else { throw HarnessError("no version in the output of spamguardctl train:\n\(result.output)") }
        return String(version)
    }
}
