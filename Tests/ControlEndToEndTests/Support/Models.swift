import DaemonTestSupport
import Foundation

/// Classifiers for these tests, made in seconds on the tiny base model (`TinyModels`): one epoch on generated
/// mail, a version of its own per seed. What they score does not matter: the tests' policies make each outcome
/// certain.
enum TestModels {
    /// Trains a classifier on `base` into `directory` with `spamguardctl train`; returns its version.
    static func train(base: String, into directory: String, seed: Int, scratch: Scratch) async throws -> String {
        let data = try scratch.write("train-\(seed).tsv", trainingLines().joined(separator: "\n") + "\n")
        return try await TinyModels.train(base: base, into: directory, [
            "--train", "text:\(data)", "--epochs", "1", "--batch-size", "8", "--seed", "\(seed)", "--max-tokens", "48",
        ])
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
