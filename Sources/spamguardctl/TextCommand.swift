import ArgumentParser
import Foundation
import MailText

/// `spamguardctl text`: what the model sees of a message.
struct TextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text",
        abstract: "Print the text the classifier reads from raw messages.",
        discussion: """
            Each FILE is a raw RFC 5322 message, an mbox file, or a directory of messages \
            (Maildir or one message per file). With more than one message, each is introduced \
            by a line "==> ORIGIN <==". Problems found in a message go to standard error.
            """
    )

    @Option(name: .long, help: ArgumentHelp(
        "Header lines to add, comma-separated: \(HeaderSelection.allCases.map(\.name).joined(separator: ", ")), all or none. Each goes before Subject, but for received (the Received chain without dates and queue ids, one line per hop), which goes after the body.",
        valueName: "list"))
    var headers = "none"

    @Option(name: .long, help: ArgumentHelp("Cap on the length of the text, in Unicode scalars.", valueName: "n"))
    var maxChars = ExtractionOptions.default.maxTextCharacters

    @Argument(help: ArgumentHelp("Messages to read.", valueName: "file"))
    var files: [String]

    func validate() throws {
        do {
            _ = try HeaderSelection(parsing: headers)
        } catch {
            throw ValidationError(error.description)
        }
        guard maxChars > 0 else { throw ValidationError("--max-chars must be positive") }
    }

    func run() throws {
        let options = ExtractionOptions(maxTextCharacters: maxChars, headers: try HeaderSelection(parsing: headers))
        var failures = 0
        // One message prints bare; several are labelled by origin. Holding back one message
        // tells which, without reading anything twice.
        var held: (origin: String, text: ExtractedText)?
        var printed = 0
        func emit(_ message: (origin: String, text: ExtractedText), labelled: Bool) {
            if labelled { print("\(printed > 0 ? "\n" : "")==> \(message.origin) <==") }
            print(message.text.classificationText)
            printed += 1
            for problem in message.text.problems { printError("\(message.origin): \(problem)") }
        }
        for file in files {
            let entries: any Sequence<MailboxEntry>
            do {
                entries = try Mailbox.messages(at: URL(fileURLWithPath: file))
            } catch {
                printError(error.description)
                failures += 1
                continue
            }
            for entry in entries {
                switch entry.content {
                case .failure(let error):
                    printError(error.description)
                    failures += 1
                case .success(let bytes):
                    if let previous = held { emit(previous, labelled: true) }
                    held = (entry.origin, MailText.extract(bytes, options: options))
                }
            }
        }
        if let last = held { emit(last, labelled: printed > 0 || files.count > 1) }
        if failures > 0 { throw ExitCode.failure }
    }

    private func printError(_ message: String) {
        FileHandle.standardError.write(Data("spamguardctl text: \(message)\n".utf8))
    }
}
