#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `counters.json` in the state directory: message counts per outcome and since when they count, so that
/// they survive restarts. Written whole and atomically (temporary file, fsync, rename, fsync of the directory),
/// so a crash leaves either the old file or the new one.
public struct CountersFile: Sendable {
    public struct Contents: Sendable, Equatable, Codable {
        public var format = "spamguard-counters"
        public var formatVersion = 1
        public var since: Date
        public var saved: Date
        /// Outcome name → count.
        public var counts: [String: Int]

        public init(since: Date, saved: Date, counts: MessageCounters.Snapshot) {
            self.since = since
            self.saved = saved
            self.counts = counts.byName
        }

        enum CodingKeys: String, CodingKey {
            case format, since, saved, counts
            case formatVersion = "format_version"
        }
    }

    public struct Unreadable: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public let path: String

    public init(directory: String) {
        path = directory.hasSuffix("/") ? directory + "counters.json" : directory + "/counters.json"
    }

    /// The saved contents; nil when there is no file yet.
    public func load() throws(Unreadable) -> Contents? {
        guard access(path, F_OK) == 0 else { return nil }
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw Unreadable(path: path, reason: "\(error)")
        }
        let contents: Contents
        do {
            contents = try Self.decoder.decode(Contents.self, from: Data(text.utf8))
        } catch {
            throw Unreadable(path: path, reason: "not a counters file: \(error)")
        }
        guard contents.format == "spamguard-counters", contents.formatVersion == 1 else {
            throw Unreadable(path: path, reason: "format \(contents.format) version \(contents.formatVersion) is not spamguard-counters version 1")
        }
        return contents
    }

    /// Replaces the file with `contents`, atomically.
    public func save(_ contents: Contents) throws(SystemError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let bytes = (try? encoder.encode(contents)).map(Array.init) ?? []
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw SystemError(errno: errno) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                let error = errno
                close(descriptor)
                unlink(temporary)
                throw SystemError(errno: error)
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else {
            let error = errno
            close(descriptor)
            unlink(temporary)
            throw SystemError(errno: error)
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw SystemError(errno: error)
        }
        let directory = open(Self.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    /// Moves an unreadable file aside (`counters.json.unreadable`), so that saving anew does not destroy it.
    public func setAside() -> String? {
        let aside = path + ".unreadable"
        return rename(path, aside) == 0 ? aside : nil
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
