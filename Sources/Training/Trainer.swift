import Foundation
import GPT

/// Token sequences with labels (1 = spam, 0 = ham).
public struct LabeledSequences: Sendable {
    public var sequences: [[Int32]]
    public var labels: [Int]
    public init(sequences: [[Int32]], labels: [Int]) {
        precondition(sequences.count == labels.count)
        self.sequences = sequences; self.labels = labels
    }
    public var count: Int { sequences.count }
    public var spamCount: Int { labels.reduce(0, +) }
    public var isEmpty: Bool { sequences.isEmpty }
}

/// What a trainer reports while it works, for progress bars and logs.
public enum TrainingEvent: Sendable {
    /// Frozen-prefix features: `done` of `total` windows ready (cached or computed); a window per example unless
    /// `TrainingSettings.windows` > 1.
    case features(done: Int, total: Int)
    case step(epoch: Int, step: Int, totalSteps: Int, examplesPerSecond: Double, loss: Float)
    /// The book's progress line (losses and accuracies estimated on a few batches), and whether the epoch that
    /// just ended set the best full-validation loss so far.
    case evaluation(epoch: Int, step: Int, trainLoss: Double, validationLoss: Double, trainAccuracy: Double, validationAccuracy: Double, best: Bool)
    case epochFinished(epoch: Int, seconds: Double)
}

public struct TrainingOutcome: Sendable {
    public var train: Metrics
    public var validation: Metrics
    public var test: Metrics?
    public var steps: Int
    public var seconds: Double
    public var examplesPerSecond: Double
    public var bestValidationLoss: Double?
    /// Windows whose frozen-prefix features came from the cache, and were computed.
    public var featureCacheHits: Int
    public var featuresComputed: Int
    /// Seconds spent making the frozen-prefix features (0 when all came from the cache); not part of `seconds`.
    public var featureSeconds: Double
    public var maxTokens: Int
    /// The starting classifier's metrics on validation and test, measured before the first step; set only when
    /// the trainer starts from an existing classifier's head (the learning loop judges a candidate against them).
    public var initialValidation: Metrics?
    public var initialTest: Metrics?
    /// The spam probability of every validation example, in order: after training, and (when `initialValidation`
    /// is set) before the first step — so that two classifiers can be compared message by message.
    public var validationProbabilities: [Float]
    public var initialValidationProbabilities: [Float]?
}

/// Finetunes a GPT-2 classifier: the chapter-6 loop (AdamW, periodic evaluation, best checkpoint) over
/// cached frozen-prefix features. It trains `network.model`'s parameters in place. An example longer than
/// `maxTokens` is read as up to `settings.windows` windows (`TokenWindows`); the cache holds one entry per window,
/// keyed by its tokens, so an example's first window shares its entry with a one-window run.
public final class Trainer {
    public let network: ClassifierNetwork
    public let settings: TrainingSettings
    private let store: FeatureStore?
    private let padToken: Int32
    private let events: (TrainingEvent) -> Void
    private var windows: [[Int32]] = []          // the windows of every example of every split, prepared (truncated / padded)
    private var exampleWindows: [Range<Int>] = []  // example i's windows: windows[exampleWindows[i]]
    private var exampleBags: [TokenBagFeatures] = []  // example i's bag features (with a bag head)
    private let startsFromClassifier: Bool

    /// Called before every optimizer step and every batch of features or predictions. A background trainer blocks
    /// here to pause (while mail is being classified) and throws to stop; the default does nothing.
    public var checkpoint: () throws -> Void = {}

    /// - Parameters:
    ///   - head: start from an existing classifier's head (the learning loop); nil = a fresh random head.
    ///   - bag: with `settings.bag`, start from an existing classifier's bag head; nil = zeros.
    ///   - baseHash: SHA-256 of the base weights, keying the feature cache.
    ///   - cacheFrozenPrefix: false runs the frozen blocks in every step (as a plain implementation does), to measure the cache.
    public init(model: GPTModel, settings: TrainingSettings, baseHash: String, padToken: Int32, head: [Float]? = nil,
                bag: [Float]? = nil, cacheDirectory: URL? = nil, memoryBudget: Int = 4 << 30, cacheFrozenPrefix: Bool = true,
                events: @escaping (TrainingEvent) -> Void = { _ in }) {
        self.settings = settings
        self.padToken = padToken
        self.events = events
        startsFromClassifier = head != nil
        network = ClassifierNetwork(model: model, scope: settings.scope, head: head, seed: settings.seed, windowPooling: settings.windowPooling,
                                    bag: settings.bag, bagWeights: bag, bagObjective: settings.bagObjective)
        let frozen = settings.scope.firstTrainableBlock(layers: model.config.layers)
        store = settings.scope == .all || !cacheFrozenPrefix ? nil
            : FeatureStore(baseHash: baseHash, frozenDepth: "\(frozen)/\(settings.scope)", directory: cacheDirectory, memoryBudget: memoryBudget)
    }

    /// The token count windows are cut (and, for `.last` pooling, padded) to.
    public func effectiveMaxTokens(for train: LabeledSequences) -> Int {
        let limit = network.model.config.maxPositions
        return min(settings.maxTokens ?? train.sequences.map(\.count).max() ?? limit, limit)
    }

    /// The book's downsampling (majority class cut to the minority's size) or nothing.
    private func balanced(_ set: LabeledSequences, rng: inout SeededRandom) -> LabeledSequences {
        guard settings.balance == .downsample else { return set }
        let spam = set.labels.indices.filter { set.labels[$0] == 1 }, ham = set.labels.indices.filter { set.labels[$0] == 0 }
        let (minority, majority) = spam.count <= ham.count ? (spam, ham) : (ham, spam)
        let kept = (minority + majority.shuffled(using: &rng).prefix(minority.count)).sorted()
        return LabeledSequences(sequences: kept.map { set.sequences[$0] }, labels: kept.map { set.labels[$0] })
    }

    public func train(_ trainSet: LabeledSequences, validation: LabeledSequences, test: LabeledSequences? = nil) throws -> TrainingOutcome {
        precondition(!trainSet.isEmpty, "empty training set")
        var rng = SeededRandom(seed: settings.seed)
        let train = balanced(trainSet, rng: &rng)
        let maxTokens = effectiveMaxTokens(for: train)
        let splits = [train, validation, test ?? LabeledSequences(sequences: [], labels: [])]
        // Each example's windows (one unless settings.windows > 1 and it is long), all in one list.
        let cut = TokenWindows(length: maxTokens, count: settings.windows, padToken: padToken, pooling: settings.pooling)
        windows = []
        exampleWindows = []
        for s in splits.lazy.flatMap(\.sequences) {
            let w = cut.split(cut.prepare(s))
            exampleWindows.append(windows.count..<(windows.count + w.count))
            windows += w
        }
        let trainIdx = Array(0..<train.count), valIdx = Array(train.count..<(train.count + validation.count))
        let testIdx = Array((train.count + validation.count)..<exampleWindows.count)
        let labels = splits.flatMap(\.labels)
        // The bag reads each message's own tokens, beyond the windows when it reaches further.
        exampleBags = settings.bag.map { bag in splits.flatMap(\.sequences).map { bag.features($0) } } ?? []

        let featureStart = Date()
        if let store {
            let C = network.model.config.channels
            try store.prepare(windows, featureCount: { settings.scope == .headOnly ? C : $0.count * C },
                              batchSize: 8, compute: { try checkpoint(); return try network.frozenFeatures($0) },
                              progress: { events(.features(done: $0, total: $1)) })
        }
        let featureSeconds = Date().timeIntervalSince(featureStart)
        let classWeights: [Float]
        if settings.balance == .weight {
            let spam = Float(train.spamCount), ham = Float(train.count - train.spamCount), n = Float(train.count)
            classWeights = [ham > 0 ? n / (2 * ham) : 1, spam > 0 ? n / (2 * spam) : 1]
        } else { classWeights = [1, 1] }

        let optimizer = AdamW(settings.optimizer)
        let model = network.model
        if !network.gradients.isEmpty {
            optimizer.addGroup(values: UnsafeMutableBufferPointer(rebasing: model.parameters[network.trainableOffset...]), gradients: network.gradients)
        }
        optimizer.addGroup(values: network.head, gradients: network.headGradients)
        if !network.bagWeights.isEmpty {
            optimizer.addGroup(values: network.bagWeights, gradients: network.bagGradients,
                               learningRateScale: settings.bagLearningRate / settings.optimizer.learningRate, weightDecay: settings.bagWeightDecay)
        }

        func scored(_ idx: [Int]) throws -> (metrics: Metrics, probabilities: [Float]) {
            let (p, loss) = try predict(idx, labels: labels)
            return (Metrics(probabilities: p, labels: idx.map { labels[$0] }, loss: loss), p)
        }
        func metrics(_ idx: [Int]) throws -> Metrics { try scored(idx).metrics }
        var initial: (validation: (metrics: Metrics, probabilities: [Float]), test: Metrics?)?
        if startsFromClassifier {
            initial = (try scored(valIdx), testIdx.isEmpty ? nil : try metrics(testIdx))
        }

        let stepsPerEpoch = (train.count + settings.batchSize - 1) / settings.batchSize
        let totalSteps = stepsPerEpoch * settings.epochs
        var best: (loss: Double, snapshot: [Float])?
        var step = 0, examples = 0
        let start = Date()
        for epoch in 1...max(1, settings.epochs) {
            let epochStart = Date()
            let order = trainIdx.shuffled(using: &rng)
            for b in stride(from: 0, to: order.count, by: settings.batchSize) {
                let batch = Array(order[b..<min(b + settings.batchSize, order.count)])
                let y = batch.map { labels[$0] }
                try checkpoint()
                network.zeroGradients()
                let (loss, _) = try withInput(batch) { try network.forwardBackward($0, labels: y, weights: y.map { classWeights[$0] }, windows: $1, bags: $2) }
                optimizer.update(learningRate: learningRate(step: step, total: totalSteps))
                step += 1
                examples += batch.count
                events(.step(epoch: epoch, step: step, totalSteps: totalSteps,
                             examplesPerSecond: Double(examples) / Date().timeIntervalSince(start), loss: loss))
                if step % settings.evalEvery == 0 {
                    try reportProgress(epoch: epoch, step: step, train: trainIdx, validation: valIdx, labels: labels)
                }
            }
            // The best checkpoint is chosen on the full validation set, once per epoch.
            var isBest = false
            if settings.keepBest, !valIdx.isEmpty {
                let loss = try predict(valIdx, labels: labels).1
                if best == nil || loss < best!.loss { best = (loss, snapshot()); isBest = true }
            }
            if step % settings.evalEvery != 0 || isBest {
                try reportProgress(epoch: epoch, step: step, train: trainIdx, validation: valIdx, labels: labels, isBest: isBest)
            }
            events(.epochFinished(epoch: epoch, seconds: Date().timeIntervalSince(epochStart)))
        }
        let seconds = Date().timeIntervalSince(start)
        if settings.keepBest, let best { restore(best.snapshot) }
        let trainMetrics = try metrics(trainIdx), validation = try scored(valIdx)
        return TrainingOutcome(train: trainMetrics, validation: validation.metrics,
                               test: testIdx.isEmpty ? nil : try metrics(testIdx),
                               steps: step, seconds: seconds, examplesPerSecond: Double(examples) / seconds,
                               bestValidationLoss: settings.keepBest ? best?.loss : nil,
                               featureCacheHits: store?.hits ?? 0, featuresComputed: store?.computed ?? 0,
                               featureSeconds: featureSeconds, maxTokens: maxTokens,
                               initialValidation: initial?.validation.metrics, initialTest: initial?.test,
                               validationProbabilities: validation.probabilities,
                               initialValidationProbabilities: initial?.validation.probabilities)
    }

    private func learningRate(step: Int, total: Int) -> Float {
        let peak = settings.optimizer.learningRate
        switch settings.schedule {
        case .constant: return peak
        case .cosine:
            let warmup = max(1, total / 10)
            if step < warmup { return peak * Float(step + 1) / Float(warmup) }
            let progress = Double(step - warmup) / Double(max(1, total - warmup))
            return peak * Float(0.1 + 0.9 * 0.5 * (1 + cos(.pi * progress)))
        }
    }

    /// The book's progress line: losses and accuracies estimated on the first `evalBatches` batches of train
    /// and validation.
    private func reportProgress(epoch: Int, step: Int, train: [Int], validation: [Int], labels: [Int], isBest: Bool = false) throws {
        let n = settings.evalBatches * settings.batchSize
        let trainSample = Array(train.prefix(n)), valSample = Array(validation.prefix(n))
        let (trainP, trainLoss) = try predict(trainSample, labels: labels)
        let (valP, valLoss) = try predict(valSample, labels: labels)
        func accuracy(_ p: [Float], _ idx: [Int]) -> Double {
            idx.isEmpty ? .nan : Double(zip(p, idx).filter { ($0.0 >= 0.5 ? 1 : 0) == labels[$0.1] }.count) / Double(idx.count)
        }
        events(.evaluation(epoch: epoch, step: step, trainLoss: trainLoss, validationLoss: valLoss,
                           trainAccuracy: accuracy(trainP, trainSample), validationAccuracy: accuracy(valP, valSample),
                           best: isBest))
    }

    private func crossEntropy(_ p: [Float], _ y: [Int]) -> Double {
        guard !p.isEmpty else { return .nan }
        return zip(p, y).map { -log(Double(max($1 == 1 ? $0 : 1 - $0, 1e-30))) }.reduce(0, +) / Double(p.count)
    }

    /// Spam probabilities and mean cross-entropy over the examples `idx`.
    private func predict(_ idx: [Int], labels: [Int]) throws -> ([Float], Double) {
        var out: [Float] = []
        out.reserveCapacity(idx.count)
        for b in stride(from: 0, to: idx.count, by: 16) {
            let batch = Array(idx[b..<min(b + 16, idx.count)])
            try checkpoint()
            out += try withInput(batch) { try network.probabilities($0, windows: $1, bags: $2) }.map { $0[1] }
        }
        return (out, crossEntropy(out, idx.map { labels[$0] }))
    }

    /// Calls `body` with the input of the examples `batch` (their windows, from the feature cache when there is
    /// one), how many windows each has, and their bag features (nil without a bag head).
    private func withInput<R>(_ batch: [Int], _ body: (ClassifierInput, [Int], [TokenBagFeatures]?) throws -> R) throws -> R {
        let rows = batch.flatMap { exampleWindows[$0] }, groups = batch.map { exampleWindows[$0].count }
        let bags = settings.bag == nil ? nil : batch.map { exampleBags[$0] }
        guard let store else { return try body(.tokens(rows.map { windows[$0] }), groups, bags) }
        return try store.withFeatures(rows) { ptrs in
            settings.scope == .headOnly ? try body(.pooled(ptrs), groups, bags)
                                        : try body(.residuals(ptrs, lengths: rows.map { windows[$0].count }), groups, bags)
        }
    }

    private func snapshot() -> [Float] {
        Array(network.model.parameters[network.trainableOffset...]) + network.headValues + Array(network.bagWeights)
    }

    private func restore(_ s: [Float]) {
        let bodyCount = network.model.parameters.count - network.trainableOffset, headCount = network.head.count
        s.withUnsafeBufferPointer { src in
            (network.model.parameters.baseAddress! + network.trainableOffset).update(from: src.baseAddress!, count: bodyCount)
            network.head.baseAddress!.update(from: src.baseAddress! + bodyCount, count: headCount)
            if !network.bagWeights.isEmpty {
                network.bagWeights.baseAddress!.update(from: src.baseAddress! + bodyCount + headCount, count: network.bagWeights.count)
            }
        }
    }
}
