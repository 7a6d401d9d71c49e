/// Why a tokenizer could not be loaded. Every case names the file (or directory) at fault.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file or directory could not be read at all.
    case unreadable(path: String, reason: String)
    /// The file's content breaks its format; `line` is 1-based, for the line-oriented formats.
    case malformed(path: String, line: Int?, reason: String)
    /// The directory holds neither vocab.json + merges.txt nor a *.tiktoken file.
    case noVocabulary(directory: String)
    /// The directory holds no vocab.json + merges.txt and more than one *.tiktoken file.
    case ambiguousVocabulary(directory: String, candidates: [String])

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            "cannot read \(path): \(reason)"
        case let .malformed(path, line?, reason):
            "\(path):\(line): \(reason)"
        case let .malformed(path, nil, reason):
            "\(path): \(reason)"
        case let .noVocabulary(directory):
            "\(directory) holds no GPT-2 tokenizer: expected vocab.json and merges.txt, or a *.tiktoken file"
        case let .ambiguousVocabulary(directory, candidates):
            "\(directory) holds several *.tiktoken files (\(candidates.joined(separator: ", "))): pass one of them"
        }
    }
}
