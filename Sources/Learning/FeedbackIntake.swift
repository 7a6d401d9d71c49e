import Foundation
import Logging
import SpamguardService

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Takes corrections in from the feedback folder, one file at a time:
///
/// 1. claim — rename the file into `claimed/` under a name that carries its label and origin (atomic: a file
///    is claimed once, and half-delivered Maildir files in `tmp/` are never seen);
/// 2. read and check it — not mail (empty, binary, no header section, over `maxMessageBytes`) is a rejection;
/// 3. record it in the ledger (fsync'd) — by content hash and label, or the rejection with its reason;
/// 4. file it away — `learned/<hash>` or `rejected/<claim>`.
///
/// A crash between any two steps leaves the file in `claimed/`; `recover()` finishes it from its name and the
/// ledger (a claim already recorded is only filed away, so nothing is counted twice). So every feedback message
/// is always waiting, claimed (and finished at the next start), learned, or rejected with a reason.
public struct FeedbackIntake: Sendable {
    public let folder: FeedbackFolder
    public let ledger: Ledger
    public let maxMessageBytes: Int
    let logger: Logger

    public init(folder: FeedbackFolder, ledger: Ledger, maxMessageBytes: Int, logger: Logger) {
        self.folder = folder
        self.ledger = ledger
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger
    }

    /// What one pass did.
    public struct Report: Sendable, Equatable {
        public var learned = 0
        public var duplicates = 0
        public var relabeled = 0
        public var rejected = 0
        /// Files that vanished between the scan and the claim (taken by someone else).
        public var vanished = 0

        public init() {}

        public var total: Int { learned + duplicates + relabeled + rejected }

        mutating func count(_ outcome: MessageOutcome) {
            switch outcome {
            case .learned: learned += 1
            case .duplicate: duplicates += 1
            case .relabeled: relabeled += 1
            }
        }
    }

    /// Takes in up to `limit` waiting files.
    @discardableResult
    public func takeIn(limit: Int = .max) throws -> Report {
        var report = Report()
        for file in try folder.waiting().prefix(limit) {
            let claim = ClaimName(label: file.label, origin: file.origin)
            guard try claimFile(file.path, as: claim) else {
                report.vanished += 1
                continue
            }
            try finish(claim, report: &report)
        }
        return report
    }

    /// Renames a waiting file into `claimed/`; false when it is gone (someone else took it).
    private func claimFile(_ path: String, as claim: ClaimName) throws(FileError) -> Bool {
        guard rename(path, folder.claimed + "/" + claim.name) == 0 else {
            if errno == ENOENT { return false }
            throw FileError("rename to \(folder.claimed)/\(claim.name)", path)
        }
        return true
    }

    /// Finishes the claims a crash interrupted. Run at start, before `takeIn`.
    @discardableResult
    public func recover() throws -> Report {
        var report = Report()
        for name in try FileOperations.names(in: folder.claimed) where !name.hasPrefix(".") {
            guard let claim = ClaimName(parsing: name) else {
                logger.warning("feedback: \(folder.claimed)/\(name) is not a claim of ours; leaving it alone")
                continue
            }
            logger.notice("feedback: finishing \(claim.origin), claimed before a restart")
            try finish(claim, report: &report)
        }
        return report
    }

    /// Checks, records and files away one claimed file.
    private func finish(_ claim: ClaimName, report: inout Report) throws {
        let path = folder.claimed + "/" + claim.name
        switch ledger.state.claims[claim.name] {
        case .learned(let hash)?:
            // Recorded before a crash: only the filing is left.
            try file(path, to: folder.learned + "/" + hash)
            return
        case .rejected?:
            try file(path, to: folder.rejected + "/" + claim.name)
            return
        case nil:
            break
        }

        let (bytes, rejection) = read(path)
        if let rejection {
            try ledger.recordRejection(claim: claim.name, label: claim.label, origin: claim.origin, reason: rejection)
            try file(path, to: folder.rejected + "/" + claim.name)
            logger.notice("feedback: rejected \(claim.origin) (\(claim.label)): \(rejection)")
            report.rejected += 1
            return
        }
        let hash = MailCheck.digest(of: bytes)
        let outcome = try ledger.recordMessage(claim: claim.name, hash: hash, label: claim.label, origin: claim.origin)
        try file(path, to: folder.learned + "/" + hash)
        logger.info("feedback: \(outcome) \(claim.label) \(hash.prefix(12)) from \(claim.origin)")
        report.count(outcome)
    }

    /// The file's bytes, or why it is not a message.
    private func read(_ path: String) -> ([UInt8], rejection: String?) {
        let result = Result { () throws(FileOperations.ReadError) -> [UInt8] in try FileOperations.read(path, limit: maxMessageBytes) }
        switch result {
        case .success(let bytes):
            return (bytes, MailCheck.rejection(of: bytes))
        case .failure(.tooLarge(let size)):
            return ([], "larger than max_message_bytes (\(size) > \(maxMessageBytes) bytes)")
        case .failure(.failed(let error)):
            return ([], "unreadable: \(error)")
        }
    }

    /// Renames into place (replacing an older copy of the same message) and makes it durable. Retention counts
    /// from now.
    private func file(_ path: String, to destination: String) throws {
        try FileOperations.rename(path, to: destination)
        FileOperations.touch(destination)
        try FileOperations.syncDirectory((destination as NSString).deletingLastPathComponent)
        try FileOperations.syncDirectory(folder.claimed)
    }

    /// Deletes files in `learned/` and `rejected/` filed away before `cutoff`, and records the learned ones as
    /// expired (they no longer take part in training). Returns how many files went.
    @discardableResult
    public func expire(before cutoff: Date) throws -> Int {
        var expired: [String] = []
        var removed = 0
        for directory in [folder.learned, folder.rejected] {
            for name in try FileOperations.names(in: directory) where !name.hasPrefix(".") {
                let path = directory + "/" + name
                guard let modified = FileOperations.modified(path), modified < cutoff else { continue }
                try FileOperations.remove(path)
                removed += 1
                if directory == folder.learned { expired.append(name) }
            }
        }
        try ledger.recordExpiry(expired)
        if removed > 0 { logger.info("feedback: retention removed \(removed) files filed before \(cutoff)") }
        return removed
    }
}
