import Foundation
import MailText

/// Where labeled examples come from; one command-line argument each:
/// `text:FILE` (`label<TAB>text` lines, the SMS Spam Collection format), `list:FILE` (`label<TAB>path` lines,
/// paths relative to the list's directory, one raw message each), `dirs:SPAMPATH,HAMPATH` (each a directory of
/// one-message files — Maildir `cur/`/`new/` understood — or an mbox file).
public enum DataSource: Sendable, Hashable, CustomStringConvertible {
    case text(URL)
    case list(URL)
    case dirs(spam: URL, ham: URL)

    public init(parsing argument: String) throws(DataError) {
        let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else {
            throw DataError.badSource(argument, "expected text:FILE, list:FILE or dirs:SPAMPATH,HAMPATH")
        }
        let path = parts[1]
        switch parts[0] {
        case "text": self = .text(URL(fileURLWithPath: path))
        case "list": self = .list(URL(fileURLWithPath: path))
        case "dirs":
            let p = path.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard p.count == 2, !p[0].isEmpty, !p[1].isEmpty else {
                throw DataError.badSource(argument, "dirs: takes two paths, spam first: dirs:SPAMPATH,HAMPATH")
            }
            self = .dirs(spam: URL(fileURLWithPath: p[0]), ham: URL(fileURLWithPath: p[1]))
        default:
            throw DataError.badSource(argument, "unknown kind \"\(parts[0])\"; expected text:, list: or dirs:")
        }
    }

    public var description: String {
        switch self {
        case .text(let u): return "text:\(u.path)"
        case .list(let u): return "list:\(u.path)"
        case .dirs(let s, let h): return "dirs:\(s.path),\(h.path)"
        }
    }
}

public enum DataError: Error, CustomStringConvertible, Equatable {
    case badSource(String, String)
    case unreadable(String, String)
    case badLine(file: String, line: Int, reason: String)
    case empty(String)

    public var description: String {
        switch self {
        case .badSource(let s, let r): return "bad data source \"\(s)\": \(r)"
        case .unreadable(let p, let r): return "\(p): cannot read: \(r)"
        case .badLine(let f, let n, let r): return "\(f):\(n): \(r)"
        case .empty(let s): return "\(s): no usable examples"
        }
    }
}

/// One labeled example: SMS-style text, or a raw message to extract text from.
public struct Example: Sendable {
    public enum Content: Sendable { case text(String), message([UInt8]) }
    public var label: Int       // 1 = spam, 0 = ham
    public var origin: String   // file, file:line or mbox#n
    public var content: Content

    public init(label: Int, origin: String, content: Content) {
        self.label = label
        self.origin = origin
        self.content = content
    }

    /// The text the model reads.
    public func text(_ options: ExtractionOptions) -> String {
        switch content {
        case .text(let t): return t
        case .message(let m): return MailText.extract(m, options: options).classificationText
        }
    }
}

/// Examples and the ones skipped (with why), of one source.
public struct LoadedExamples: Sendable {
    public var examples: [Example] = []
    public var skipped: [(origin: String, reason: String)] = []
    public init(examples: [Example] = []) { self.examples = examples }
    public var spamCount: Int { examples.reduce(0) { $0 + $1.label } }
    public var hamCount: Int { examples.count - spamCount }
}

public func parseLabel(_ s: Substring) -> Int? {
    switch s.trimmingCharacters(in: .whitespaces).lowercased() {
    case "spam": return 1
    case "ham": return 0
    default: return nil
    }
}

extension DataSource {
    /// Reads every example. Bad labels are errors naming the line; unreadable messages are skipped and reported.
    public func load() throws(DataError) -> LoadedExamples {
        var out = LoadedExamples()
        switch self {
        case .text(let url):
            for (n, line) in try lines(url) {
                guard let tab = line.firstIndex(of: "\t") else { throw .badLine(file: url.path, line: n, reason: "expected label<TAB>text") }
                guard let label = parseLabel(line[..<tab]) else {
                    throw .badLine(file: url.path, line: n, reason: "label \"\(line[..<tab])\" is neither spam nor ham")
                }
                out.examples.append(Example(label: label, origin: "\(url.path):\(n)", content: .text(String(line[line.index(after: tab)...]))))
            }
        case .list(let url):
            let base = url.deletingLastPathComponent()
            for (n, line) in try lines(url) {
                guard let tab = line.firstIndex(of: "\t") else { throw .badLine(file: url.path, line: n, reason: "expected label<TAB>path") }
                guard let label = parseLabel(line[..<tab]) else {
                    throw .badLine(file: url.path, line: n, reason: "label \"\(line[..<tab])\" is neither spam nor ham")
                }
                let rel = String(line[line.index(after: tab)...])
                let path = rel.hasPrefix("/") ? URL(fileURLWithPath: rel) : base.appendingPathComponent(rel)
                do {
                    out.examples.append(Example(label: label, origin: path.path, content: .message(Array(try Data(contentsOf: path)))))
                } catch {
                    out.skipped.append((path.path, (error as NSError).localizedDescription))
                }
            }
        case .dirs(let spam, let ham):
            for (label, url) in [(1, spam), (0, ham)] {
                let entries: any Sequence<MailboxEntry>
                do { entries = try Mailbox.messages(at: url) } catch { throw .unreadable(url.path, error.reason) }
                for entry in entries {
                    switch entry.content {
                    case .success(let bytes): out.examples.append(Example(label: label, origin: entry.origin, content: .message(bytes)))
                    case .failure(let e): out.skipped.append((entry.origin, e.reason))
                    }
                }
            }
        }
        return out
    }

    /// Non-empty lines with their 1-based numbers.
    private func lines(_ url: URL) throws(DataError) -> [(Int, Substring)] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .unreadable(url.path, (error as NSError).localizedDescription) }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .compactMap { i, l in
                let line = l.hasSuffix("\r") ? l.dropLast() : l
                return line.isEmpty ? nil : (i + 1, line)
            }
    }
}
