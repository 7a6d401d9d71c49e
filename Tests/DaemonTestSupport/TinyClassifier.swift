import Foundation

/// A tiny base model (random weights, byte vocabulary) and a classifier trained on it with the real
/// `spamguardctl train`, on generated mail a tiny model can learn: spam and ham differ in their subjects and
/// bodies. Made once per test run and shared (read-only) by the tests.
public struct TinyClassifier: Sendable {
    public let base: String
    public let classifier: String
    public let mail: String

    public static let spamSubjects = ["WIN CASH PRIZE NOW", "Cheap pills, order today", "You won a free iPhone", "Claim your lottery prize"]
    public static let hamSubjects = ["Meeting notes for tuesday", "Lunch tomorrow?", "Quarterly report draft", "Re: project timeline"]
    public static let spamBodies = ["click here to claim your prize money today", "limited offer, buy now and save 90%"]
    public static let hamBodies = ["see you at the usual place around noon", "the draft is attached, comments welcome"]

    /// One generated message (`\n` line ends; miltertest and SMTP clients convert).
    public static func message(spam: Bool, index: Int, extraHeaders: [String] = []) -> String {
        let headers = [
            "From: sender\(index)@example.org",
            "To: rcpt@example.net",
            "Subject: \((spam ? spamSubjects : hamSubjects)[index % 4])",
            "Message-ID: <\(index).\(spam ? "s" : "h")@example.org>",
        ] + extraHeaders
        return headers.joined(separator: "\n") + "\n\n" + (spam ? spamBodies : hamBodies)[index % 2] + "\n"
    }

    public static let shared = Task<TinyClassifier, any Error> { try await make() }

    private static func make() async throws -> TinyClassifier {
        // Next to the build products, replaced by every run: the tests' daemons read from it all run long.
        let root = try Scratch(replacing: "\(Products.directory)/spamguard-e2e-fixture")
        let base = root.file("base"), classifier = root.file("classifier")
        try TinyModels.writeBase(to: base)
        let examples = (0..<160).map { index in
            let spam = index % 2 == 0
            return (path: "mail/\(index).eml", spam: spam, message: message(spam: spam, index: index / 2))
        }
        let trainList = try TinyModels.writeList(root.file("train.tsv"), Array(examples[..<128]))
        let validationList = try TinyModels.writeList(root.file("val.tsv"), Array(examples[128...]))
        try await TinyModels.train(base: base, into: classifier, [
            "--train", "list:\(trainList)", "--val", "list:\(validationList)",
            "--train-blocks", "all", "--epochs", "12", "--batch-size", "8", "--lr", "0.003",
            // Subject + body only: the tiny model reads 64 byte-level tokens, which header lines would fill.
            "--max-tokens", "64", "--headers", "none", "--seed", "1",
        ])
        return TinyClassifier(base: base, classifier: classifier, mail: root.path)
    }

    /// A configuration for `DaemonProcess` that serves this classifier.
    public func configuration(in scratch: Scratch, milter: String = "", extra: String = "") -> String {
        DaemonProcess.configuration(in: scratch, milter: milter, extra: extra)
            .replacingOccurrences(of: "base = \"\(scratch.file("base"))\"", with: "base = \"\(base)\"")
            .replacingOccurrences(of: "classifier = \"\(scratch.file("classifier"))\"", with: "classifier = \"\(classifier)\"")
    }
}
