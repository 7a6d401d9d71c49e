import Foundation

/// A fresh directory under /tmp (short paths: Unix socket paths are limited to 107 bytes), removed by `remove()`.
public struct Scratch: Sendable {
    public let path: String

    /// `/tmp/<prefix>XXXXXX`, made by mkdtemp.
    public init(prefix: String = "sg-test.") throws {
        var template = Array("/tmp/\(prefix)XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp failed: errno \(errno)")
        }
        path = String(cString: created)
    }

    /// A fixed directory, emptied first.
    public init(replacing path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = path
    }

    /// A directory that is already there.
    public init(existing path: String) {
        self.path = path
    }

    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `text` to `name` (below this directory; missing directories made); returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let target = file(name)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: target, atomically: true, encoding: .utf8)
        return target
    }

    /// The text of `name`, or "" if there is none.
    public func read(_ name: String) -> String {
        (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? ""
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
