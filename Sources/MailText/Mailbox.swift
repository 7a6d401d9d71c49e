import Foundation
import Glibc

/// One message read from a mailbox, or why it could not be read.
public struct MailboxEntry: Sendable {
    /// The file the message came from, or `file#N` for the Nth message (from 1) of an mbox.
    public let origin: String
    public let content: Result<[UInt8], MailboxError>
}

public struct MailboxError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Reads messages for training and inspection from
/// - a directory of one message per file, recursively, skipping dotfiles; a Maildir (a directory
///   with `cur/` and `new/`) contributes only `cur/` and `new/`, never `tmp/`;
/// - a single message file;
/// - an mbox file (it starts with a `From ` line): split at `From ` lines, `>From ` unescaped.
///
/// Files are read lazily, in name order. A file that cannot be read becomes an entry carrying
/// the error; only an unusable `path` itself throws.
public enum Mailbox {
    public static func messages(at path: URL) throws(MailboxError) -> some Sequence<MailboxEntry> {
        let root = path.path(percentEncoded: false)
        var info = stat()
        guard stat(root, &info) == 0 else { throw MailboxError(path: root, reason: lastError()) }
        if info.st_mode & S_IFMT == S_IFDIR {
            var sources: [Source] = []
            try collectFiles(in: root, into: &sources, depth: 0)
            return MailboxMessages(sources: sources)
        }
        return MailboxMessages(sources: [startsWithFromLine(root) ? .mbox(root) : .file(root)])
    }

    fileprivate enum Source {
        case file(String)
        case mbox(String)
        case failed(MailboxError)
    }

    /// Deep enough for any mail store; stops a bind-mount loop.
    private static let depthLimit = 64

    private static func collectFiles(in directory: String, into sources: inout [Source], depth: Int) throws(MailboxError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            let failure = MailboxError(path: directory, reason: "cannot list directory: \(error.localizedDescription)")
            if depth == 0 { throw failure }
            sources.append(.failed(failure))
            return
        }
        let isMaildir = names.contains("cur") && names.contains("new")
        for name in names where !name.hasPrefix(".") {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var info = stat()
            // lstat: symbolic links to directories are not followed, so there can be no cycles;
            // links to files are read like files.
            guard lstat(path, &info) == 0 else {
                sources.append(.failed(MailboxError(path: path, reason: lastError())))
                continue
            }
            if info.st_mode & S_IFMT == S_IFDIR {
                guard !isMaildir || name == "cur" || name == "new" else { continue }
                guard depth < depthLimit else {
                    sources.append(.failed(MailboxError(path: path, reason: "directories nested too deep")))
                    continue
                }
                try collectFiles(in: path, into: &sources, depth: depth + 1)
            } else if !isMaildir {
                sources.append(.file(path))
            }
        }
    }

    private static func startsWithFromLine(_ path: String) -> Bool {
        guard let file = OpenFile(path) else { return false }
        var head = [UInt8](repeating: 0, count: 5)
        let count = head.withUnsafeMutableBytes { file.read(into: $0) }
        return count == 5 && head == Array("From ".utf8)
    }

    /// The whole of one regular file.
    fileprivate static func readFile(_ path: String) -> Result<[UInt8], MailboxError> {
        guard let file = OpenFile(path) else { return .failure(MailboxError(path: path, reason: lastError())) }
        var info = stat()
        guard fstat(file.descriptor, &info) == 0 else { return .failure(MailboxError(path: path, reason: lastError())) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return .failure(MailboxError(path: path, reason: "not a regular file"))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var block = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = block.withUnsafeMutableBytes { file.read(into: $0) }
            if count < 0 { return .failure(MailboxError(path: path, reason: lastError())) }
            if count == 0 { return .success(bytes) }
            bytes += block[0..<count]
        }
    }

    fileprivate static func lastError() -> String { String(cString: strerror(errno)) }
}

/// A file descriptor closed when the last reference goes away.
private final class OpenFile {
    let descriptor: Int32

    /// O_NONBLOCK: opening a FIFO left in a mail directory must not hang.
    init?(_ path: String) {
        descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if descriptor < 0 { return nil }
    }

    deinit { close(descriptor) }

    /// Bytes read, 0 at the end, -1 on error (with errno set).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 || errno != EINTR { return count }
        }
    }
}

private struct MailboxMessages: Sequence {
    let sources: [Mailbox.Source]

    func makeIterator() -> Iterator { Iterator(sources: sources) }

    struct Iterator: IteratorProtocol {
        let sources: [Mailbox.Source]
        var index = 0
        var mbox: MboxReader?

        mutating func next() -> MailboxEntry? {
            while true {
                if let entry = mbox?.next() { return entry }
                mbox = nil
                guard index < sources.count else { return nil }
                defer { index += 1 }
                switch sources[index] {
                case .file(let path): return MailboxEntry(origin: path, content: Mailbox.readFile(path))
                case .failed(let error): return MailboxEntry(origin: error.path, content: .failure(error))
                case .mbox(let path): mbox = MboxReader(path: path)
                }
            }
        }
    }
}

/// Splits an mbox file into messages as it reads it, holding one message at a time.
///
/// Every line starting with `From ` separates messages (the `From ` line itself is dropped).
/// Lines starting with `>From `, `>>From `, … lose one `>` (mboxrd). The blank line an mbox
/// writer puts after each message is dropped.
private struct MboxReader {
    private let path: String
    private var file: OpenFile?
    private var failed = false
    private var block = [UInt8](repeating: 0, count: 1 << 16)
    private var blockStart = 0
    private var blockEnd = 0
    private var line: [UInt8] = []
    private var message: [UInt8] = []
    private var started = false
    private var count = 0

    init(path: String) {
        self.path = path
        file = OpenFile(path)
        failed = file == nil
    }

    mutating func next() -> MailboxEntry? {
        if failed {
            failed = false
            file = nil
            return MailboxEntry(origin: path, content: .failure(MailboxError(path: path, reason: Mailbox.lastError())))
        }
        guard file != nil else { return nil }
        while true {
            switch readLine() {
            case .failure(let error):
                file = nil
                return MailboxEntry(origin: "\(path)#\(count + 1)", content: .failure(error))
            case .success(false):
                file = nil
                return started ? takeMessage() : nil
            case .success(true):
                if line.starts(with: "From ".utf8) {
                    defer { started = true }
                    if started { return takeMessage() }
                } else if line.first == UInt8(ascii: ">"),
                    let from = line.firstIndex(where: { $0 != UInt8(ascii: ">") }),
                    line[from...].starts(with: "From ".utf8)
                {
                    message += line.dropFirst()
                } else if started {
                    message += line
                }
            }
        }
    }

    private mutating func takeMessage() -> MailboxEntry {
        if message.suffix(2) == [0x0A, 0x0A] {
            message.removeLast()
        } else if message.suffix(4) == [0x0D, 0x0A, 0x0D, 0x0A] {
            message.removeLast(2)
        }
        count += 1
        defer { message = [] }
        return MailboxEntry(origin: "\(path)#\(count)", content: .success(message))
    }

    /// Reads the next line, with its line end, into `line`; false at the end of the file.
    private mutating func readLine() -> Result<Bool, MailboxError> {
        line.removeAll(keepingCapacity: true)
        while true {
            if blockStart < blockEnd {
                let found = block[blockStart..<blockEnd].firstIndex(of: 0x0A)
                let end = found.map { $0 + 1 } ?? blockEnd
                line += block[blockStart..<end]
                blockStart = end
                if found != nil { return .success(true) }
            }
            let count = block.withUnsafeMutableBytes { file!.read(into: $0) }
            if count < 0 { return .failure(MailboxError(path: path, reason: Mailbox.lastError())) }
            if count == 0 { return .success(!line.isEmpty) }
            blockStart = 0
            blockEnd = count
        }
    }
}
