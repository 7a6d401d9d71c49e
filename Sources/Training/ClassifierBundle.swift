import Crypto
import Foundation
import GPT
import MailText

/// The JSON manifest of a classifier bundle: everything needed to rebuild and judge the classifier.
public struct ClassifierManifest: Sendable, Codable {
    public struct BaseModel: Sendable, Codable {
        public var path: String
        public var sha256: String
        public var config: GPTConfig
        public init(path: String, sha256: String, config: GPTConfig) { self.path = path; self.sha256 = sha256; self.config = config }
    }
    public struct SplitSummary: Sendable, Codable, Equatable {
        public var spam: Int
        public var ham: Int
        public var skipped: Int
        public init(spam: Int, ham: Int, skipped: Int) { self.spam = spam; self.ham = ham; self.skipped = skipped }
    }
    public struct Training: Sendable, Codable {
        public var settings: TrainingSettings
        /// Data sources by split ("train", "validation", "test"), as given on the command line; the learning loop replays them.
        public var sources: [String: String]
        public var summary: [String: SplitSummary]
        public var seconds: Double
        public var steps: Int
        /// The classifier this one was finetuned from (the learning loop), if any.
        public var parentVersion: String?
        /// The epochs of the training that began this line of classifiers, when a learning run trained another
        /// number (`[feedback] epochs_per_run`): runs at `epochs_per_run = 0` go back to it. Absent otherwise.
        public var recipeEpochs: Int?
        /// The epochs learning runs train when `[feedback] epochs_per_run` is 0.
        public var defaultRunEpochs: Int { recipeEpochs ?? settings.epochs }
        public init(settings: TrainingSettings, sources: [String: String], summary: [String: SplitSummary], seconds: Double, steps: Int,
                    parentVersion: String?, recipeEpochs: Int? = nil) {
            self.settings = settings; self.sources = sources; self.summary = summary
            self.seconds = seconds; self.steps = steps; self.parentVersion = parentVersion
            self.recipeEpochs = recipeEpochs == settings.epochs ? nil : recipeEpochs
        }
    }

    public var format = "spamguard-classifier"
    public var formatVersion = 1
    public var version: String
    public var created: Date
    public var base: BaseModel
    public var trainable: TrainableScope
    public var pooling: Pooling
    /// Tokens per window.
    public var maxTokens: Int
    /// Windows of `maxTokens` tokens read per message, and how their pooled states are combined (see
    /// `TokenWindows`); bundles from before windows read one.
    public var windows = 1
    public var windowPooling: WindowPooling = .mean
    /// The bag head beside the GPT head, if the classifier has one (its weights are the tensor `out_head.bag`);
    /// a new manifest takes it from its training settings.
    public var bag: TokenBag?
    public var padToken: Int32
    public var extraction: ExtractionOptions
    public var labels = ["ham", "spam"]
    /// Spam probability at or above which the classifier says spam (the daemon's policy has its own thresholds).
    public var threshold: Float = 0.5
    /// "train", "validation", "test".
    public var metrics: [String: Metrics]
    public var training: Training
    public var tensors = "classifier.safetensors"

    public init(version: String, created: Date, base: BaseModel, trainable: TrainableScope, pooling: Pooling, maxTokens: Int,
                padToken: Int32, extraction: ExtractionOptions, metrics: [String: Metrics], training: Training,
                windows: Int = 1, windowPooling: WindowPooling = .mean) {
        self.version = version; self.created = created; self.base = base; self.trainable = trainable; self.pooling = pooling
        self.maxTokens = maxTokens; self.padToken = padToken; self.extraction = extraction; self.metrics = metrics; self.training = training
        self.windows = windows; self.windowPooling = windowPooling; bag = training.settings.bag
    }

    /// How this classifier cuts a message's tokens into the windows it reads.
    public var tokenWindows: TokenWindows {
        TokenWindows(length: maxTokens, count: windows, padToken: padToken, pooling: pooling)
    }

    /// The most tokens of a message the classifier reads, through its windows or its bag: tokenize this many.
    public var tokenLimit: Int { max(tokenWindows.tokenLimit, bag?.tokens ?? 0) }

    // Decoded field by field so that bundles written before `windows` existed still load (one window, mean).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        version = try c.decode(String.self, forKey: .version)
        created = try c.decode(Date.self, forKey: .created)
        base = try c.decode(BaseModel.self, forKey: .base)
        trainable = try c.decode(TrainableScope.self, forKey: .trainable)
        pooling = try c.decode(Pooling.self, forKey: .pooling)
        maxTokens = try c.decode(Int.self, forKey: .maxTokens)
        windows = try c.decodeIfPresent(Int.self, forKey: .windows) ?? 1
        windowPooling = try c.decodeIfPresent(WindowPooling.self, forKey: .windowPooling) ?? .mean
        bag = try c.decodeIfPresent(TokenBag.self, forKey: .bag)
        padToken = try c.decode(Int32.self, forKey: .padToken)
        extraction = try c.decode(ExtractionOptions.self, forKey: .extraction)
        labels = try c.decode([String].self, forKey: .labels)
        threshold = try c.decode(Float.self, forKey: .threshold)
        metrics = try c.decode([String: Metrics].self, forKey: .metrics)
        training = try c.decode(Training.self, forKey: .training)
        tensors = try c.decode(String.self, forKey: .tensors)
        guard windows >= 1, maxTokens >= 1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "windows and maxTokens must be positive"))
        }
    }
}

public enum BundleError: Error, CustomStringConvertible {
    case notABundle(String, String)
    case baseMismatch(bundle: String, base: String, expected: String, found: String)
    case configMismatch(bundle: String, base: String)

    public var description: String {
        switch self {
        case .notABundle(let p, let r): return "\(p): not a spamguard classifier bundle: \(r)"
        case .baseMismatch(let b, let base, let e, let f):
            return "\(b): was trained on a base model with sha256 \(e), but \(base) has sha256 \(f); give the base model it was trained on (--base / [model] base)"
        case .configMismatch(let b, let base): return "\(b): its model config differs from \(base)'s config.json"
        }
    }
}

/// SHA-256 of a file, streamed.
public func sha256(file url: URL) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: url.path) else {
        throw ModelError.unreadable(url.path, reason: "cannot open")
    }
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

public enum ClassifierBundle {
    static let manifestName = "manifest.json"

    /// The trained tensors of `network` (its trainable tail under Hugging Face names, and the head) plus the manifest.
    /// Files are written durably; the manifest last, so a bundle with a manifest is complete.
    public static func write(_ network: ClassifierNetwork, manifest: ClassifierManifest, to directory: URL) throws -> ClassifierManifest {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let model = network.model
        var tensors: [SafeTensorsWriter.Tensor] = model.layout.tensors.filter { $0.offset >= network.trainableOffset }.map { t in
            SafeTensorsWriter.Tensor(name: t.name, shape: t.shape,
                                     values: UnsafeBufferPointer(start: model.parameters.baseAddress! + t.offset, count: t.shape.reduce(1, *)))
        }
        let C = model.config.channels, K = ClassifierNetwork.classes
        tensors.append(.init(name: "out_head.weight", shape: [K, C], values: UnsafeBufferPointer(start: network.head.baseAddress!, count: K * C)))
        tensors.append(.init(name: "out_head.bias", shape: [K], values: UnsafeBufferPointer(start: network.head.baseAddress! + K * C, count: K)))
        if let bag = network.bag {
            precondition(manifest.bag == bag, "the manifest must describe the network's bag head")
            tensors.append(.init(name: "out_head.bag", shape: [K, bag.buckets], values: UnsafeBufferPointer(network.bagWeights)))
        }
        let data = try SafeTensorsWriter.data(tensors, metadata: ["format": "spamguard-classifier"])
        var m = manifest
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        m.version = versionString(m.created, digest)
        try writeDurably(data, to: directory.appendingPathComponent(m.tensors))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try writeDurably(try encoder.encode(m), to: directory.appendingPathComponent(manifestName))
        return m
    }

    static func versionString(_ date: Date, _ digest: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "\(f.string(from: date))-\(digest.prefix(8))"
    }

    public static func readManifest(_ directory: URL) throws -> ClassifierManifest {
        let url = directory.appendingPathComponent(manifestName)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BundleError.notABundle(directory.path, "no readable \(manifestName) (\((error as NSError).localizedDescription))")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            let m = try decoder.decode(ClassifierManifest.self, from: data)
            guard m.format == "spamguard-classifier", m.formatVersion == 1 else {
                throw BundleError.notABundle(directory.path, "format \(m.format) v\(m.formatVersion) is not spamguard-classifier v1")
            }
            return m
        } catch let e as BundleError { throw e } catch {
            throw BundleError.notABundle(directory.path, "\(manifestName) is malformed: \(error)")
        }
    }

    /// Loads the base model, checks it is the one the bundle was trained on, and applies the bundle's tensors.
    /// Returns the model, the head and the bag head's weights (nil without one). `base` nil: the base path
    /// recorded in the manifest.
    public static func load(_ directory: URL, base: URL? = nil) throws -> (ClassifierManifest, GPTModel, [Float], [Float]?) {
        let manifest = try readManifest(directory)
        let baseURL = base ?? URL(fileURLWithPath: manifest.base.path)
        let hash = try sha256(file: baseURL.appendingPathComponent("model.safetensors"))
        guard hash == manifest.base.sha256 else {
            throw BundleError.baseMismatch(bundle: directory.path, base: baseURL.path, expected: manifest.base.sha256, found: hash)
        }
        let model = try GPTModel.load(directory: baseURL)
        guard model.config == manifest.base.config else { throw BundleError.configMismatch(bundle: directory.path, base: baseURL.path) }
        let file = try SafeTensorsFile(url: directory.appendingPathComponent(manifest.tensors))
        let trainableOffset: Int
        switch manifest.trainable {
        case .headOnly: trainableOffset = model.layout.totalCount
        case .lastBlocks: trainableOffset = model.layout.blockOffset(manifest.trainable.firstTrainableBlock(layers: model.config.layers))
        case .all: trainableOffset = 0
        }
        for t in model.layout.tensors where t.offset >= trainableOffset {
            try file.read(t.name, shape: t.shape, into: model.parameters.baseAddress! + t.offset)
        }
        let C = model.config.channels, K = ClassifierNetwork.classes
        let head = try file.floats("out_head.weight", shape: [K, C]) + file.floats("out_head.bias", shape: [K])
        let bag = try manifest.bag.map { try file.floats("out_head.bag", shape: [K, $0.buckets]) }
        return (manifest, model, head, bag)
    }
}
