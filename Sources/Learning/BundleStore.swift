import Foundation
import Synchronization
import Training

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Versioned classifier bundles with an atomically switched `current`:
///
///     classifiers/
///       versions/<version>/     manifest.json + classifier.safetensors, complete or absent
///       current -> versions/<version>
///       candidates/<version>/   refused by the quality gate, kept for inspection
///       staging/<unique>/       being written; removed by `recover()`
///
/// A bundle is written into `staging/`, fsync'd, and renamed into `versions/` whole; then a new `current`
/// symbolic link is made under a temporary name and renamed over the old one. Every step is a rename followed
/// by an fsync of its directory, so a crash at any point leaves `current` naming either the previous version or
/// the new, complete one. Changes take an exclusive `flock` on `.lock`, so that `spamguardctl rollback` and the
/// daemon's promotions do not interleave.
public final class BundleStore: Sendable {
    public let directory: String
    private let threadLock = Mutex(())

    public init(directory: String) {
        self.directory = directory
    }

    var versionsDirectory: String { directory + "/versions" }
    var candidatesDirectory: String { directory + "/candidates" }
    var stagingDirectory: String { directory + "/staging" }
    var currentLink: String { directory + "/current" }

    public enum StoreError: Error, CustomStringConvertible, Equatable {
        case noSuchVersion(String, known: [String])
        case nothingOlder(current: String)
        case empty

        public var description: String {
            switch self {
            case .noSuchVersion(let version, let known):
                "no stored version \(version) (stored: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
            case .nothingOlder(let current): "no stored version is older than the serving one (\(current))"
            case .empty: "the store has no versions yet"
            }
        }
    }

    // MARK: Reading

    /// The version `current` names, if it names a complete one.
    public var currentVersion: String? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: currentLink),
              target.hasPrefix("versions/") else { return nil }
        let version = String(target.dropFirst("versions/".count))
        return isComplete(versionsDirectory + "/" + version) ? version : nil
    }

    /// The serving version's directory (not the link: a promotion meanwhile does not change what was read).
    public var currentDirectory: String? { currentVersion.map { versionsDirectory + "/" + $0 } }

    public func directory(of version: String) -> String { versionsDirectory + "/" + version }

    /// Complete stored versions, oldest first (version names begin with their creation time).
    public func versions() -> [String] {
        ((try? FileOperations.names(in: versionsDirectory)) ?? []).filter { isComplete(versionsDirectory + "/" + $0) }
    }

    /// Kept candidates, oldest first.
    public func candidates() -> [String] {
        ((try? FileOperations.names(in: candidatesDirectory)) ?? []).filter { isComplete(candidatesDirectory + "/" + $0) }
    }

    public func candidateDirectory(of version: String) -> String { candidatesDirectory + "/" + version }

    private func isComplete(_ bundle: String) -> Bool {
        FileOperations.kind(bundle + "/manifest.json") == .file
    }

    // MARK: Changing

    /// A fresh directory to write a bundle into (`staging/<name>`, emptied if a crash left one); pass it to
    /// `promote` or `keepCandidate`.
    public func makeStagingDirectory(named name: String? = nil) throws(FileError) -> String {
        try FileOperations.createDirectories(stagingDirectory)
        let path = stagingDirectory + "/" + (name ?? FeedbackFolder.stamp())
        try FileOperations.remove(path)
        guard mkdir(path, 0o750) == 0 else { throw FileError("mkdir", path) }
        return path
    }

    /// What `recover` found and repaired.
    public struct Recovery: Sendable, Equatable {
        public var removedStaging: [String] = []
        public var removedIncomplete: [String] = []
        /// `current` named nothing usable and was pointed here (the newest complete version).
        public var repointedTo: String?
    }

    /// Repairs what a crash can leave: half-written bundles in `staging/`, a temporary link, version
    /// directories without a manifest. A `current` link naming no complete version (which only a hand can
    /// cause) is pointed at the newest complete one. No link is left alone: a promotion that a crash cut short
    /// before its link was renamed leaves its version stored but not serving — the previous classifier serves.
    /// Run at start.
    @discardableResult
    public func recover() throws -> Recovery {
        try changing { () throws -> Recovery in
            var recovery = Recovery()
            for name in try FileOperations.names(in: stagingDirectory) {
                try FileOperations.remove(stagingDirectory + "/" + name)
                recovery.removedStaging.append(name)
            }
            for name in try FileOperations.names(in: directory) where name.hasPrefix(".current.") {
                try FileOperations.remove(directory + "/" + name)
            }
            for parent in [versionsDirectory, candidatesDirectory] {
                for name in try FileOperations.names(in: parent) where !isComplete(parent + "/" + name) {
                    try FileOperations.remove(parent + "/" + name)
                    recovery.removedIncomplete.append(name)
                }
            }
            let hasLink = FileOperations.kind(currentLink) != .missing
            if currentVersion == nil, hasLink, let newest = versions().last {
                try pointCurrent(at: newest)
                recovery.repointedTo = newest
            }
            return recovery
        }
    }

    /// Moves a bundle written into a staging directory into `versions/` and makes it current. Returns the
    /// version it replaced. Old versions beyond `keep` are removed (never the current one).
    @discardableResult
    public func promote(staged: String, version: String, keep: Int) throws -> String? {
        try changing { () throws -> String? in
            let previous = currentVersion
            try install(staged, as: version, in: versionsDirectory)
            try pointCurrent(at: version)
            try prune(versionsDirectory, keep: keep, sparing: version)
            return previous
        }
    }

    /// Stores a bundle as a version without serving it (the classifier trained by `spamguardctl train`, kept
    /// so that the loop's versions can be rolled back to it). Copies `bundle`; does nothing if it is stored.
    public func adopt(bundle: String, version: String) throws {
        try changing { () throws in
            guard !isComplete(directory(of: version)) else { return }
            let staged = try makeStagingDirectory(named: "adopt-" + FeedbackFolder.stamp())
            for name in try FileOperations.names(in: bundle) where !name.hasPrefix(".") {
                let bytes = try FileOperations.readOrThrow(bundle + "/" + name)
                // The manifest last, so that a bundle with a manifest is complete.
                if name != "manifest.json" { try FileOperations.writeDurably(bytes, to: staged + "/" + name) }
            }
            try FileOperations.writeDurably(try FileOperations.readOrThrow(bundle + "/manifest.json"), to: staged + "/manifest.json")
            try install(staged, as: version, in: versionsDirectory)
        }
    }

    /// Keeps a refused candidate for inspection; the newest `keep` are kept.
    public func keepCandidate(staged: String, version: String, keep: Int) throws {
        try changing { () throws in
            try install(staged, as: version, in: candidatesDirectory)
            try prune(candidatesDirectory, keep: keep, sparing: version)
        }
    }

    /// Serves `version` (nil: the newest version older than the serving one). Returns (from, to).
    public func rollback(to version: String?) throws -> (from: String?, to: String) {
        try changing { () throws -> (from: String?, to: String) in
            let stored = versions()
            guard !stored.isEmpty else { throw StoreError.empty }
            let current = currentVersion
            let target: String
            if let version {
                guard stored.contains(version) else { throw StoreError.noSuchVersion(version, known: stored.reversed()) }
                target = version
            } else {
                guard let current else { return (nil, try pointing(at: stored.last!)) }
                guard let older = stored.last(where: { $0 < current }) else { throw StoreError.nothingOlder(current: current) }
                target = older
            }
            try pointCurrent(at: target)
            return (current, target)
        }
    }

    private func pointing(at version: String) throws(FileError) -> String {
        try pointCurrent(at: version)
        return version
    }

    /// Renames a complete staged bundle into `parent/version` (replacing an older copy of the same version).
    private func install(_ staged: String, as version: String, in parent: String) throws(FileError) {
        try FileOperations.syncDirectory(staged)
        try FileOperations.createDirectories(parent)
        let destination = parent + "/" + version
        if FileOperations.kind(destination) != .missing {
            // The same version again (same time and tensors): keep the copy already there.
            try FileOperations.remove(staged)
            return
        }
        try FileOperations.rename(staged, to: destination)
        try FileOperations.syncDirectory(parent)
        try FileOperations.syncDirectory(stagingDirectory)
    }

    /// Switches `current` atomically: a new link under a temporary name, renamed over the old one. (One name
    /// will do: changes hold the store's lock, and a crash's leftover is replaced.)
    private func pointCurrent(at version: String) throws(FileError) {
        let temporary = directory + "/.current.new"
        try FileOperations.remove(temporary)
        guard symlink("versions/" + version, temporary) == 0 else { throw FileError("symlink", temporary) }
        do {
            try FileOperations.rename(temporary, to: currentLink)
        } catch {
            unlink(temporary)
            throw error
        }
        try FileOperations.syncDirectory(directory)
    }

    private func prune(_ parent: String, keep: Int, sparing: String) throws(FileError) {
        let current = currentVersion
        var names = try FileOperations.names(in: parent)
        while names.count > max(keep, 1), let oldest = names.first(where: { $0 != sparing && $0 != current }) {
            try FileOperations.remove(parent + "/" + oldest)
            names.removeAll { $0 == oldest }
        }
    }

    /// Runs a change under the in-process lock and the cross-process `flock` on `.lock`.
    private func changing<R>(_ body: () throws -> R) throws -> R {
        try threadLock.withLock { _ throws -> R in
            try FileOperations.createDirectories(directory)
            let lockPath = directory + "/.lock"
            // Read-only is enough for flock; 0644 so that whoever makes it, the daemon's user can open it.
            let fd = open(lockPath, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileError("open", lockPath) }
            defer { close(fd) }
            guard flock(fd, LOCK_EX) == 0 else { throw FileError("lock", lockPath) }
            return try body()
        }
    }
}

extension FileOperations {
    static func readOrThrow(_ path: String) throws(FileError) -> [UInt8] {
        do {
            return try read(path, limit: 1 << 34)
        } catch {
            switch error {
            case .tooLarge(let size): throw FileError("read (\(size) bytes)", path, errno: EFBIG)
            case .failed(let error): throw error
            }
        }
    }
}
