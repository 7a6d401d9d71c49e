import Foundation
import Training

/// Real models for the daemon, made in seconds: a tiny random GPT-2-layout base (`TinyModel`) and
/// classifiers trained on it with `spamguardctl train` on generated mail.
enum TestModels {
    /// Writes the tiny base model to `directory`.
    static func writeBase(to directory: String) throws {
        try TinyModel.write(to: URL(fileURLWithPath: directory))
    }

    /// Trains a classifier on `base` into `directory` with `spamguardctl train`; returns its version.
    static func train(base: String, into directory: String, seed: Int, scratch: Scratch) async throws -> String {
        let data = try scratch.write("train-\(seed).tsv", trainingLines().joined(separator: "\n") + "\n")
        let result = try await run(Products.path("spamguardctl"), [
            "train", "--base", base, "--out", directory, "--train", "text:\(data)",
            "--epochs", "1", "--batch-size", "8", "--seed", "\(seed)", "--max-tokens", "48", "--no-cache",
        ])
        guard result.status == 0 else { throw HarnessError("spamguardctl train exited \(result.status):\n\(result.output)\n\(result.errors)") }
        guard let line = result.output.split(separator: "\n").first(where: { $0.hasPrefix("wrote classifier ") }),
              let version = line.split(separator: " ").dropFirst(2).first
        else { throw HarnessError("no version in the output of spamguardctl train:\n\(result.output)") }
        return String(version)
    }

    /// Spam about pills and prizes, ham about meetings and reports, 40 of each.
    static func trainingLines() -> [String] {
        let spam = ["cheap pills online now", "win a prize click here", "free money offer today", "best price viagra deal"]
        let ham = ["meeting moved to tuesday", "please review the report", "lunch with the team", "notes from the project call"]
        return (0..<40).flatMap { index in
            ["spam\t\(spam[index % spam.count]) \(index)", "ham\t\(ham[index % ham.count]) \(index)"]
        }
    }

    /// A raw message with `subject` and `body`.
    static func message(_ subject: String, _ body: String) -> String {
        "From: sender@example.org\nTo: rcpt@example.com\nSubject: \(subject)\nMessage-ID: <\(UUID().uuidString)@example.org>\n\n\(body)\n"
    }
}
