import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed file operation, naming the path and the operation.
public struct FileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var operation: String
    public var errno: Int32

    public init(_ operation: String, _ path: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String { "\(path): \(operation): \(String(cString: strerror(errno)))" }
}

/// The few POSIX file operations the learning loop's crash safety rests on: rename within a directory, fsync of
/// a file and of a directory (so that a rename survives a crash), and files written whole or not at all.
enum FileOperations {
    /// Makes `path` and its missing parents. New directories get `mode` (before the umask).
    static func createDirectories(_ path: String, mode: mode_t = 0o750) throws(FileError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw FileError("mkdir", path, errno: ENOTDIR) }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try createDirectories(parent, mode: mode) }
        guard mkdir(path, mode) == 0 || errno == EEXIST else { throw FileError("mkdir", path) }
    }

    /// `rename(2)`: atomic within one file system; replaces `to` if it exists.
    static func rename(_ from: String, to: String) throws(FileError) {
        guard Glibc.rename(from, to) == 0 else { throw FileError("rename to \(to)", from) }
    }

    /// Makes the directory's entries (renames, new files) durable.
    static func syncDirectory(_ path: String) throws(FileError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileError("fsync directory", path) }
    }

    /// Names in a directory (not `.` and `..`), sorted; an absent directory has none.
    static func names(in directory: String) throws(FileError) -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw FileError("open directory", directory)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    enum Kind { case file, directory, other, missing }

    /// What is at `path` (symbolic links not followed).
    static func kind(_ path: String) -> Kind {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Modification time, or nil when there is nothing at `path`.
    static func modified(_ path: String) -> Date? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Sets the modification time to now (retention counts from when a file was filed away).
    static func touch(_ path: String) {
        _ = utimensat(AT_FDCWD, path, nil, 0)
    }

    enum ReadError: Error, Equatable {
        case tooLarge(Int)
        case failed(FileError)
    }

    /// Reads a whole regular file of at most `limit` bytes.
    static func read(_ path: String, limit: Int) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw .failed(FileError("open", path)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .failed(FileError("stat", path)) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .failed(FileError("read", path, errno: EISDIR)) }
        let size = Int(info.st_size)
        guard size <= limit else { throw .tooLarge(size) }
        var bytes = [UInt8](repeating: 0, count: size + 1)
        var count = 0
        while true {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .failed(FileError("read", path))
            }
            if n == 0 { break }
            count += n
            if count > limit { throw .tooLarge(count) }
            if count == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
        }
        bytes.removeSubrange(count...)
        return bytes
    }

    /// Writes `bytes` to `path` so that a crash leaves either no file or the whole one: a hidden temporary
    /// name in the same directory, fsync, rename, fsync of the directory.
    static func writeDurably(_ bytes: [UInt8], to path: String, mode: mode_t = 0o640) throws(FileError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = directory + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileError("create", temporary) }
        do throws(FileError) {
            try writeAll(fd, bytes, path: temporary)
            guard fsync(fd) == 0 else { throw FileError("fsync", temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        do {
            try rename(temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("write", path)
            }
            written += n
        }
    }

    /// Removes a file or a whole directory tree; nothing there is not an error.
    static func remove(_ path: String) throws(FileError) {
        switch kind(path) {
        case .missing: return
        case .directory:
            for name in try names(in: path) { try remove(path + "/" + name) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw FileError("rmdir", path) }
        case .file, .other:
            guard unlink(path) == 0 || errno == ENOENT else { throw FileError("unlink", path) }
        }
    }
}
