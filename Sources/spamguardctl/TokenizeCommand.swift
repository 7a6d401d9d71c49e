import ArgumentParser
import Foundation
import Tokenizer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the GPT-2 token ids of files, or of standard input.",
        discussion: """
            Prints one line per input: its token ids, separated by spaces, exactly as tiktoken's "gpt2" \
            encoding gives them (encode_ordinary: "<|endoftext|>" in the text is ordinary text). Inputs are \
            read as bytes; invalid UTF-8 is replaced by U+FFFD first, as the daemon does with mail.

            The model directory needs vocab.json and merges.txt, or a single *.tiktoken file.

            Example: spamguardctl tokenize --model /var/lib/spamguard/model message.eml
            """
    )

    @Option(name: .long, help: ArgumentHelp("The model directory holding the tokenizer files.", valueName: "dir"))
    var model: String

    @Argument(help: ArgumentHelp("Files to tokenize; standard input when none are given.", valueName: "file"))
    var files: [String] = []

    func run() throws {
        let tokenizer = try GPT2Tokenizer.load(directory: URL(fileURLWithPath: model))
        if files.isEmpty {
            printIDs(tokenizer.encode(bytes: FileHandle.standardInput.readDataToEndOfFile()))
        }
        for file in files {
            let bytes: Data
            do { bytes = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw UnreadableInput(description: "cannot read \(file): \(error.localizedDescription)")
            }
            printIDs(tokenizer.encode(bytes: bytes))
        }
    }

    private func printIDs(_ ids: [Int32]) {
        print(ids.map(String.init).joined(separator: " "))
    }
}

private struct UnreadableInput: Error, CustomStringConvertible {
    let description: String
}
