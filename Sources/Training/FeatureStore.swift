import Crypto
import Foundation
import GPT

/// The frozen-prefix cache. When the lower blocks are frozen, what they output for an example never changes,
/// so it is computed once and reused every epoch — and, with a directory, across runs (the learning loop
/// retrains on the same replay data again and again). Entries are keyed by a SHA-256 of the base model's
/// hash, the frozen depth and the sequence's tokens; a sequence is one window of an example (`TokenWindows`), which
/// the body reads from position 0 whatever its place in the message, so its tokens alone determine its features. At most `memoryBudget` bytes stay in RAM; the rest is
/// spilled to files and read back per batch.
public final class FeatureStore {
    public let directory: URL?
    public let memoryBudget: Int
    private let keyPrefix: Data
    private var inMemory: [Int: [Float]] = [:]
    private var spilled: [Int: URL] = [:]
    private var counts: [Int] = []
    private var memoryUsed = 0
    private var batchBuffer: [Float] = []
    private var spillDirectory: URL?
    public private(set) var hits = 0, computed = 0

    /// - Parameters:
    ///   - baseHash: SHA-256 of the base model's weights; with `frozenDepth` it makes cached entries safe to reuse.
    ///   - directory: where entries persist across runs (nil: a private temporary directory, removed at deinit).
    public init(baseHash: String, frozenDepth: String, directory: URL?, memoryBudget: Int = 4 << 30) {
        self.directory = directory
        self.memoryBudget = memoryBudget
        keyPrefix = Data("\(baseHash)|\(frozenDepth)|".utf8)
    }

    deinit {
        if directory == nil, let spillDirectory { try? FileManager.default.removeItem(at: spillDirectory) }
    }

    private func key(_ tokens: [Int32]) -> String {
        var h = SHA256()
        h.update(data: keyPrefix)
        tokens.withUnsafeBytes { h.update(bufferPointer: $0) }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    private func storeDirectory() throws -> URL {
        if let directory { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true); return directory }
        if let spillDirectory { return spillDirectory }
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("spamguard-features-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        spillDirectory = d
        return d
    }

    /// Makes features available for every sequence (index i ↔ sequences[i]), computing missing ones with
    /// `compute` over batches of `batchSize`. `progress(done, total)` is called as they are ready.
    public func prepare(_ sequences: [[Int32]], featureCount: ([Int32]) -> Int, batchSize: Int,
                        compute: ([[Int32]]) throws -> [[Float]], progress: (Int, Int) -> Void) throws {
        counts = sequences.map(featureCount)
        var missing: [Int] = []
        for (i, s) in sequences.enumerated() {
            if let directory {
                let url = directory.appendingPathComponent(key(s) + ".f32")
                if let size = try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int, size == counts[i] * 4 {
                    spilled[i] = url
                    hits += 1
                    continue
                }
            }
            missing.append(i)
        }
        progress(sequences.count - missing.count, sequences.count)
        for start in stride(from: 0, to: missing.count, by: batchSize) {
            let chunk = Array(missing[start..<min(start + batchSize, missing.count)])
            let features = try compute(chunk.map { sequences[$0] })
            for (i, f) in zip(chunk, features) {
                precondition(f.count == counts[i], "feature size mismatch")
                try keep(i, f, key: key(sequences[i]))
            }
            computed += chunk.count
            progress(sequences.count - missing.count + start + chunk.count, sequences.count)
        }
        // Bring persisted entries into memory while the budget allows.
        for (i, url) in spilled where memoryUsed + counts[i] * 4 <= memoryBudget {
            if let f = read(url, count: counts[i]) { inMemory[i] = f; memoryUsed += counts[i] * 4; spilled[i] = nil }
        }
    }

    private func keep(_ i: Int, _ f: [Float], key: String) throws {
        let bytes = f.count * 4
        if directory != nil || memoryUsed + bytes > memoryBudget {
            let url = try storeDirectory().appendingPathComponent(key + ".f32")
            let data = f.withUnsafeBytes { Data($0) }
            try writeDurably(data, to: url)
            if memoryUsed + bytes > memoryBudget { spilled[i] = url; return }
        }
        inMemory[i] = f
        memoryUsed += bytes
    }

    private func read(_ url: URL, count: Int) -> [Float]? {
        guard let data = try? Data(contentsOf: url), data.count == count * 4 else { return nil }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Calls `body` with a pointer to each requested example's features (valid only inside `body`).
    public func withFeatures<R>(_ indices: [Int], _ body: ([UnsafePointer<Float>]) throws -> R) throws -> R {
        let total = indices.reduce(0) { $0 + counts[$1] }
        if batchBuffer.count < total { batchBuffer = [Float](repeating: 0, count: total) }
        return try batchBuffer.withUnsafeMutableBufferPointer { buf in
            var pointers: [UnsafePointer<Float>] = []
            var at = 0
            for i in indices {
                let dst = buf.baseAddress! + at
                if let f = inMemory[i] {
                    f.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: f.count) }
                } else if let url = spilled[i], let f = read(url, count: counts[i]) {
                    f.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: f.count) }
                } else {
                    throw ModelError.unreadable(spilled[i]?.path ?? "feature cache", reason: "cached features for example \(i) are gone")
                }
                pointers.append(UnsafePointer(dst))
                at += counts[i]
            }
            return try body(pointers)
        }
    }
}
