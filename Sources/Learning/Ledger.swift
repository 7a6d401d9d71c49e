import ControlProtocol
import Foundation
import Logging
import SpamguardService
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the ledger says, replayed from its records.
public struct LedgerState: Sendable, Equatable {
    public struct Message: Sendable, Equatable {
        /// The newest label.
        public var label: FeedbackLabel
        public var labeledAt: Date
        public var origin: String
        /// The label a finished run learned; when it differs from `label`, the message waits for the next run.
        public var trainedLabel: FeedbackLabel?
        /// Retention removed its file.
        public var expired = false

        public var isUntrained: Bool { !expired && trainedLabel != label }
    }

    public enum ClaimOutcome: Sendable, Equatable {
        case learned(hash: String)
        case rejected
    }

    /// By content hash.
    public var messages: [String: Message] = [:]
    /// Every claim with a recorded outcome, by claim name.
    public var claims: [String: ClaimOutcome] = [:]
    public var duplicates = 0
    public var relabeled = 0
    public var rejected = 0
    public var lastRun: TrainingRunRecord?
    public var lastServing: ServingRecord?
    /// Why the gate refused each refused candidate, by version.
    public var refusals: [String: String] = [:]

    public init() {}

    /// Distinct messages learned.
    public var learned: Int { messages.count }
    /// Messages whose newest label no finished run has learned yet.
    public var untrained: [String: Message] { messages.filter { $0.value.isUntrained } }
    public var nextRunID: Int { (lastRun?.id ?? 0) + 1 }

    /// What a message with this hash and label would be now.
    public func outcome(hash: String, label: FeedbackLabel) -> MessageOutcome {
        guard let known = messages[hash] else { return .learned }
        return known.label == label ? .duplicate : .relabeled
    }

    mutating func apply(_ record: LedgerRecord) {
        switch record {
        case .message(let m):
            claims[m.claim] = .learned(hash: m.hash)
            switch outcome(hash: m.hash, label: m.label) {
            case .learned:
                messages[m.hash] = Message(label: m.label, labeledAt: m.time, origin: m.origin)
            case .duplicate:
                duplicates += 1
                messages[m.hash]!.expired = false  // its file is back in learned/
            case .relabeled:
                relabeled += 1
                messages[m.hash]!.label = m.label
                messages[m.hash]!.labeledAt = m.time
                messages[m.hash]!.origin = m.origin
                messages[m.hash]!.expired = false
            }
        case .rejection(let r):
            claims[r.claim] = .rejected
            rejected += 1
        case .expiry(let e):
            for hash in e.hashes { messages[hash]?.expired = true }
        case .run(let run):
            lastRun = run
            if run.outcome == .refused, let candidate = run.candidate { refusals[candidate] = run.reason }
            guard run.outcome != .failed else { return }
            for (hashes, label) in [(run.consumedSpam, FeedbackLabel.spam), (run.consumedHam, .ham)] {
                for hash in hashes where messages[hash]?.label == label { messages[hash]!.trainedLabel = label }
            }
        case .serving(let s):
            lastServing = s
        }
    }
}

/// The learning loop's durable memory: an append-only JSON-lines file, one record per line, each appended with
/// one `write` and fsync'd before the call returns, and replayed at open.
///
/// Crash consistency: a record is either whole on disk or absent. A crash in the middle of an append leaves a
/// torn last line, which `open` cuts off (it was never acknowledged). Appends hold an exclusive `flock`, so
/// `spamguardctl` may append (a rollback) while the daemon runs; the daemon's replayed state then misses that
/// record until it restarts, which only its history shows.
public final class Ledger: Sendable {
    public let path: String
    private let storage: Mutex<Storage>
    private let logger: Logger

    private struct Storage: ~Copyable {
        let fd: Int32
        var state: LedgerState

        deinit { close(fd) }
    }

    /// Opens the ledger at `path` and replays it. `create`: make the file (and its directory) if missing —
    /// the daemon does; `spamguardctl` appends only to a ledger the daemon made, so that it never leaves files
    /// the daemon's user cannot write.
    public init(path: String, create: Bool = true, logger: Logger) throws(FileError) {
        self.path = path
        self.logger = logger
        if create { try FileOperations.createDirectories((path as NSString).deletingLastPathComponent) }
        let fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0), 0o640)
        guard fd >= 0 else { throw FileError("open", path) }
        let state: LedgerState
        do {
            state = try Self.replay(fd: fd, path: path, logger: logger)
        } catch {
            close(fd)
            throw error
        }
        storage = Mutex(Storage(fd: fd, state: state))
    }

    public var state: LedgerState { storage.withLock { $0.state } }

    /// Records a taken-in message; returns whether it was new, a duplicate or a relabel.
    @discardableResult
    public func recordMessage(claim: String, hash: String, label: FeedbackLabel, origin: String, time: Date = Date()) throws(FileError) -> MessageOutcome {
        try storage.withLock { (storage) throws(FileError) -> MessageOutcome in
            let outcome = storage.state.outcome(hash: hash, label: label)
            let record = LedgerRecord.message(MessageRecord(claim: claim, hash: hash, label: label, origin: origin, time: time, outcome: outcome))
            try append(record, to: &storage)
            return outcome
        }
    }

    public func recordRejection(claim: String, label: FeedbackLabel, origin: String, reason: String, time: Date = Date()) throws(FileError) {
        try append(.rejection(RejectionRecord(claim: claim, label: label, origin: origin, reason: reason, time: time)))
    }

    public func recordExpiry(_ hashes: [String], time: Date = Date()) throws(FileError) {
        guard !hashes.isEmpty else { return }
        try append(.expiry(ExpiryRecord(hashes: hashes, time: time)))
    }

    public func recordRun(_ run: TrainingRunRecord) throws(FileError) {
        try append(.run(run))
    }

    public func recordServing(_ serving: ServingRecord) throws(FileError) {
        try append(.serving(serving))
    }

    public func append(_ record: LedgerRecord) throws(FileError) {
        try storage.withLock { (storage) throws(FileError) in try append(record, to: &storage) }
    }

    private func append(_ record: LedgerRecord, to storage: inout Storage) throws(FileError) {
        let line: [UInt8]
        do {
            line = Array(try Self.encoder.encode(record)) + [UInt8(ascii: "\n")]
        } catch {
            preconditionFailure("ledger records always encode: \(error)")
        }
        let fd = storage.fd
        guard flock(fd, LOCK_EX) == 0 else { throw FileError("lock", path) }
        defer { flock(fd, LOCK_UN) }
        // One write: O_APPEND puts the whole line at the end, after any other writer's.
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else {
            let error = FileError("append", path, errno: written < 0 ? errno : EIO)
            // A short write left a torn line: cut it, so that the next record starts on a line of its own.
            var info = stat()
            if written > 0, fstat(fd, &info) == 0 { _ = ftruncate(fd, info.st_size - off_t(written)) }
            throw error
        }
        guard fsync(fd) == 0 else { throw FileError("fsync", path) }
        // Apply what a replay will read (times to the second), so that the state now and after a restart agree.
        storage.state.apply((try? Self.decoder.decode(LedgerRecord.self, from: Data(line.dropLast()))) ?? record)
    }

    /// What the ledger at `path` says, read without changing anything (`spamguardctl` working offline): no file
    /// is an empty ledger, a torn last line is ignored rather than cut off.
    public static func read(path: String, logger: Logger) throws(FileError) -> LedgerState {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return LedgerState() }
            throw FileError("open", path)
        }
        defer { close(fd) }
        guard flock(fd, LOCK_SH) == 0 else { throw FileError("lock", path) }
        defer { flock(fd, LOCK_UN) }
        return replay(try readAll(fd: fd, path: path), path: path, logger: logger).state
    }

    /// Reads every record, cutting a torn last line off the file.
    private static func replay(fd: Int32, path: String, logger: Logger) throws(FileError) -> LedgerState {
        guard flock(fd, LOCK_EX) == 0 else { throw FileError("lock", path) }
        defer { flock(fd, LOCK_UN) }
        let bytes = try readAll(fd: fd, path: path)
        let (state, end) = replay(bytes, path: path, logger: logger)
        if end < bytes.count {
            logger.warning("ledger \(path): cutting off a torn last line (\(bytes.count - end) bytes) left by a crash")
            guard ftruncate(fd, off_t(end)) == 0, fsync(fd) == 0 else { throw FileError("truncate", path) }
        }
        return state
    }

    /// The state the complete lines of `bytes` describe, and where the last complete line ends.
    private static func replay(_ bytes: [UInt8], path: String, logger: Logger) -> (state: LedgerState, end: Int) {
        var state = LedgerState()
        let decoder = decoder
        var lineStart = 0, lineNumber = 0, skipped = 0
        while let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
            lineNumber += 1
            let line = bytes[lineStart..<newline]
            lineStart = newline + 1
            if line.isEmpty { continue }
            do {
                state.apply(try decoder.decode(LedgerRecord.self, from: Data(line)))
            } catch {
                skipped += 1
                logger.error("ledger \(path): line \(lineNumber) is not a record and is ignored: \(error)")
            }
        }
        logger.debug("ledger \(path): \(lineNumber) records replayed\(skipped > 0 ? ", \(skipped) ignored" : "")")
        return (state, lineStart)
    }

    private static func readAll(fd: Int32, path: String) throws(FileError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("read", path)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
            offset += off_t(n)
        }
        return bytes
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}
