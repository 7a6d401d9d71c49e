import ControlProtocol
import Foundation
import SpamguardService

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The feedback folder's layout. Corrections arrive in `spam/` and `ham/`: plain files (one raw message each)
/// or Maildirs (`new/` and `cur/`; `tmp/` and hidden files are ignored), so a Sieve rule, an IMAP move or a
/// `cp` can drop mail in. The daemon claims each file by renaming it into `claimed/`, then files it under
/// `learned/` (named by its content hash) or `rejected/`. All five directories are on one file system, so
/// every move is an atomic rename.
public struct FeedbackFolder: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public func inbox(_ label: FeedbackLabel) -> String { root + "/" + label.rawValue }
    public var claimed: String { root + "/claimed" }
    public var learned: String { root + "/learned" }
    public var rejected: String { root + "/rejected" }

    /// Creates what is missing: the inboxes group-writable and setgid (2770), so that the mail system's group
    /// can drop files and they keep that group; the daemon's own directories 0750. Existing directories keep
    /// their modes and owners.
    public func prepare() throws(FileError) {
        for label in FeedbackLabel.allCases {
            let path = inbox(label)
            guard FileOperations.kind(path) == .missing else { continue }
            try FileOperations.createDirectories(path)
            guard chmod(path, 0o2770) == 0 else { throw FileError("chmod", path) }
        }
        for path in [claimed, learned, rejected] { try FileOperations.createDirectories(path) }
    }

    /// A file waiting in an inbox.
    public struct WaitingFile: Sendable, Equatable {
        public var label: FeedbackLabel
        public var path: String
        /// The path below the feedback folder, e.g. `spam/new/1700000000.M1P2.host`.
        public var origin: String
    }

    /// The files waiting in `spam/` and `ham/`, Maildir `new/` and `cur/` included.
    public func waiting() throws(FileError) -> [WaitingFile] {
        var files: [WaitingFile] = []
        for label in FeedbackLabel.allCases {
            let inbox = inbox(label)
            for name in try FileOperations.names(in: inbox) where !name.hasPrefix(".") {
                let path = inbox + "/" + name
                switch FileOperations.kind(path) {
                case .file:
                    files.append(WaitingFile(label: label, path: path, origin: "\(label)/\(name)"))
                case .directory where name == "new" || name == "cur":
                    for entry in try FileOperations.names(in: path) where !entry.hasPrefix(".") {
                        let file = path + "/" + entry
                        if FileOperations.kind(file) == .file {
                            files.append(WaitingFile(label: label, path: file, origin: "\(label)/\(name)/\(entry)"))
                        }
                    }
                default:
                    continue  // Maildir tmp/ (deliveries in progress), subfolders, sockets…
                }
            }
        }
        return files
    }

    /// Drops one message into the inbox for `label`, the way a mail system would: written under a hidden name,
    /// fsync'd, then renamed into place, so the daemon never claims half a file. Returns its origin. Creates the
    /// folder if the daemon has not yet.
    @discardableResult
    public func drop(_ bytes: [UInt8], label: FeedbackLabel, name: String) throws(FileError) -> String {
        if FileOperations.kind(inbox(label)) == .missing { try prepare() }
        let safe = String(name.split(separator: "/").last.map(String.init)?.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" } ?? [])
        let unique = "learn-\(Self.stamp())-\(safe.prefix(80))"
        try FileOperations.writeDurably(bytes, to: inbox(label) + "/" + unique, mode: 0o660)
        return "\(label)/\(unique)"
    }

    /// Nanoseconds of wall-clock time and a random number: unique names without shared counters.
    static func stamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return String(UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec), radix: 16) + "-" + String(UInt32.random(in: .min ... .max), radix: 16)
    }
}

/// The name a claimed file has in `claimed/`: its label and origin are in the name, so that a claim a crash
/// interrupted can be finished from the name alone.
struct ClaimName: Sendable, Equatable {
    var label: FeedbackLabel
    var origin: String
    var name: String

    /// A new, unique claim for a waiting file.
    init(label: FeedbackLabel, origin: String) {
        self.label = label
        self.origin = origin
        let escaped = origin.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
        // File names are at most 255 bytes; the origin is information, a cut one still is.
        name = "\(label).\(FeedbackFolder.stamp()).\(String(decoding: escaped.utf8.prefix(200), as: UTF8.self))"
    }

    /// Parses a name found in `claimed/`; nil for anything that is not a claim.
    init?(parsing name: String) {
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let label = FeedbackLabel(rawValue: String(parts[0])) else { return nil }
        self.label = label
        self.name = name
        origin = String(parts[2]).removingPercentEncoding ?? String(parts[2])
    }
}
