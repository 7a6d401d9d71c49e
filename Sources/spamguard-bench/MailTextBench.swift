import ArgumentParser
import ControlProtocol
import Foundation
import Glibc
import MailText

/// Throughput of text extraction over a corpus, on one core, next to the cheapest pass any
/// parser must make over the same bytes: finding the line ends. Also checks every message.
struct MailTextBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailtext",
        abstract: "Extract the text of every message in a corpus; report messages/s and MB/s.",
        discussion: """
            Reads every message under DIR into memory first (files ending in .tsv, the split \
            lists, excepted). Checks that each one yields some text and that reading it in \
            random chunks through MessageReader gives the same text as MailText.extract; \
            exits non-zero if any does not. MB is 10^6 bytes; times are the median of the rounds.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Corpus directory, mbox or message file.", valueName: "dir"))
    var corpus = "../shared/corpora/spamassassin"

    @Option(name: .long, help: "Timed rounds over the whole corpus.")
    var rounds = 5

    func validate() throws {
        guard rounds > 0 else { throw ValidationError("--rounds must be positive") }
    }

    func run() throws {
        let started = ContinuousClock.now
        var messages: [[UInt8]] = []
        var unreadable = 0
        for entry in try Mailbox.messages(at: URL(fileURLWithPath: corpus)) where !entry.origin.hasSuffix(".tsv") {
            switch entry.content {
            case .success(let bytes): messages.append(bytes)
            case .failure(let error):
                print("unreadable: \(error)")
                unreadable += 1
            }
        }
        let bytes = messages.reduce(0) { $0 + $1.count }
        let megabytes = Double(bytes) / 1e6
        print("corpus: \(corpus): \(messages.count) messages, \(format(megabytes, 1)) MB, read in \(format((ContinuousClock.now - started).inSeconds, 2)) s")
        guard !messages.isEmpty else { throw ExitCode.failure }

        let failures = check(messages) + unreadable

        let reference = median(rounds) { countLineEnds(messages) }
        let extraction = median(rounds) { messages.reduce(0) { $0 &+ MailText.extract($1).classificationText.utf8.count } }
        let streaming = median(rounds) { messages.reduce(0) { $0 &+ readInChunks($1, size: 64 * 1024).classificationText.utf8.count } }

        let count = Double(messages.count)
        print("reference, line-end scan (memchr): \(format(megabytes / reference, 0)) MB/s")
        for (name, time) in [("MailText.extract", extraction), ("MessageReader, 64 KiB chunks", streaming)] {
            print("\(name): \(format(count / time, 0)) messages/s, \(format(megabytes / time, 1)) MB/s, "
                + "\(format(time / reference, 1))× the reference time")
        }
        if failures > 0 { throw ExitCode.failure }
    }

    /// Every message must give some text, and the same text however it is chunked.
    /// Returns the number of failures; prints the malformations found, most common first.
    private func check(_ messages: [[UInt8]]) -> Int {
        var generator = SystemRandomNumberGenerator()
        var empty = 0, differing = 0, withProblems = 0
        var problemCounts: [String: Int] = [:]
        for message in messages {
            let text = MailText.extract(message)
            if text.subject.isEmpty && text.body.isEmpty && text.attachmentNames.isEmpty { empty += 1 }
            if readInChunks(message, size: Int.random(in: 1...4096, using: &generator)) != text { differing += 1 }
            if !text.problems.isEmpty { withProblems += 1 }
            for problem in text.problems { problemCounts[kind(of: problem), default: 0] += 1 }
        }
        print("check: \(messages.count) extracted, \(empty) without any text, \(differing) differing when read in chunks, "
            + "\(withProblems) with malformations:")
        for (problem, n) in problemCounts.sorted(by: { $0.value > $1.value }) {
            print("  \(String(repeating: " ", count: max(0, 5 - String(n).count)))\(n)  \(problem)")
        }
        return empty + differing
    }

    private func readInChunks(_ message: [UInt8], size: Int) -> ExtractedText {
        var reader = MessageReader.rawMessage()
        message.withUnsafeBytes { all in
            var offset = 0
            while offset < all.count {
                let end = min(offset + size, all.count)
                reader.body(UnsafeRawBufferPointer(rebasing: all[offset..<end]))
                offset = end
            }
        }
        return reader.finish()
    }

    private func countLineEnds(_ messages: [[UInt8]]) -> Int {
        var lines = 0
        for message in messages {
            message.withUnsafeBytes { buffer in
                guard var p = buffer.baseAddress else { return }
                let end = p + buffer.count
                while let hit = memchr(p, 0x0A, end - p) {
                    lines += 1
                    p = UnsafeRawPointer(hit) + 1
                }
            }
        }
        return lines
    }

    /// Seconds per run, the median of `rounds` after one untimed warm-up. `work` returns a
    /// value derived from its results, so the optimiser cannot drop it.
    private func median(_ rounds: Int, _ work: () -> Int) -> Double {
        var sink = work()
        var times: [Double] = []
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            sink &+= work()
            times.append((ContinuousClock.now - start).inSeconds)
        }
        if sink == 42 { print("") } // keeps `sink` alive
        return times.sorted()[rounds / 2]
    }

    /// A problem with its particulars (quoted names) blanked, for counting by kind.
    private func kind(of problem: String) -> String {
        problem.replacing(/'[^']*'/, with: "'…'")
    }

    private func format(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }
}
